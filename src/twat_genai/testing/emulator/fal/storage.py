"""fal's storage: the REST token and fallback upload API and the v3 CDN (PROTOCOLS §1.6).

Uploaded files land in the server's file store and are served back under ``/fal/cdn/files``,
so a URL from an upload works as a model input and as a download.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

from .. import media
from ..app import EmulatorApp
from ..http import EmulatorRequest, EmulatorResponse, json_response
from ..store import safe_name
from .auth import authorized, parse_args, unauthorized


def media_name(name: str | None) -> str:
    """File name for an upload (``upload.bin`` like fal_client when none was given)."""
    return safe_name(name) if name else "upload.bin"


class FalStorage:
    """Tokens, pending uploads and multipart uploads of one fal emulator app."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self._tokens: set[str] = set()
        self._multipart: dict[str, dict[str, Any]] = {}
        self._blobs: dict[str, tuple[str, str]] = {}  # fallback-storage PUT targets

    def reset(self) -> None:
        """Forget unfinished multipart uploads; issued tokens stay valid (clients cache them)."""
        self._multipart.clear()

    def rest(self, req: EmulatorRequest, parts: list[str]) -> EmulatorResponse:
        if parts == ["storage", "auth", "token"] and req.method == "POST":
            req.endpoint = "storage/auth/token"
            if not authorized(req):
                return unauthorized()
            token = secrets.token_hex(16)
            self._tokens.add(token)
            expires = self.app.server.utcnow() + timedelta(hours=1)
            return json_response(
                {
                    "token": token,
                    "token_type": "Bearer",
                    "base_url": f"{self.app.base_url}/cdn",
                    # fal_client parses this with fromisoformat and compares with aware UTC now.
                    "expires_at": expires.isoformat(),
                }
            )
        if parts == ["storage", "upload", "initiate"] and req.method == "POST":
            req.endpoint = "storage/upload/initiate"
            if not authorized(req):
                return unauthorized()
            args = parse_args(req)
            if isinstance(args, EmulatorResponse):
                return args
            name = str(args.get("file_name") or "upload.bin")
            ctype = str(args.get("content_type") or "application/octet-stream")
            fid = self.app.server.files.new_id()
            self._blobs[fid] = (name, ctype)
            return json_response(
                {
                    "upload_url": f"{self.app.base_url}/rest/storage/upload/put/{fid}",
                    "file_url": self.app.server.files.url_for(
                        fid, name, self.app.prefix + "/cdn/files"
                    ),
                }
            )
        if parts[:3] == ["storage", "upload", "put"] and len(parts) == 4 and req.method == "PUT":
            req.endpoint = "storage/upload/put"
            pending = self._blobs.pop(parts[3], None)
            if pending is None:
                return json_response({"detail": "Upload URL not found or already used"}, 404)
            name, ctype = pending
            ctype = req.content_type or ctype
            self._store_upload(req, req.body, ctype, name, file_id=parts[3])
            return EmulatorResponse.raw(b"", "text/plain")
        return self.app.not_found(req)

    def _cdn_token_ok(self, req: EmulatorRequest) -> bool:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self._tokens

    def _store_upload(
        self,
        req: EmulatorRequest,
        data: bytes,
        content_type: str,
        name: str | None,
        file_id: str | None = None,
    ) -> str:
        ctype = content_type.split(";", maxsplit=1)[0].strip() or media.sniff_content_type(data)
        if ctype == "application/octet-stream":
            ctype = media.sniff_content_type(data)
        url = self.app.server.files.put(
            data,
            ctype,
            name,
            route=self.app.prefix + "/cdn/files",
            file_id=file_id,
            owner=self.app.name,
        )
        req.args = {"file_name": name, "content_type": ctype, "bytes": len(data)}
        self.app.count("uploads")
        return url

    def cdn(self, req: EmulatorRequest, parts: list[str]) -> EmulatorResponse:
        if parts == ["files", "upload"] and req.method == "POST":
            req.endpoint = "files/upload"
            if not self._cdn_token_ok(req):
                return json_response({"detail": "Invalid or expired token"}, 401)
            name = req.headers.get("x-fal-file-name")
            url = self._store_upload(req, req.body, req.content_type, name)
            return json_response({"access_url": url})
        if parts == ["files", "upload", "multipart"] and req.method == "POST":
            req.endpoint = "files/upload/multipart"
            if not self._cdn_token_ok(req):
                return json_response({"detail": "Invalid or expired token"}, 401)
            fid = self.app.server.files.new_id()
            name = media_name(req.headers.get("x-fal-file-name"))
            upload_id = uuid.uuid4().hex
            self._multipart[upload_id] = {
                "id": fid,
                "name": name,
                "content_type": req.content_type or "application/octet-stream",
                "parts": {},
            }
            access = self.app.server.files.url_for(fid, name, self.app.prefix + "/cdn/files")
            return json_response({"access_url": access, "uploadId": upload_id})
        if len(parts) >= 3 and parts[0] == "files":
            fid = parts[1]
            if "multipart" in parts:
                return self._multipart_op(req, parts[parts.index("multipart") + 1 :])
            if req.method == "GET":
                req.endpoint = "files"
                resp = self.app.server.files.serve(fid, head=req.head)
                if resp.status == 200:
                    self.app.count("downloads")
                return resp
        return self.app.not_found(req)

    def _multipart_op(self, req: EmulatorRequest, rest: list[str]) -> EmulatorResponse:
        req.endpoint = "files/multipart"
        if not rest or rest[0] not in self._multipart:
            return json_response({"detail": "Upload not found"}, 404)
        upload = self._multipart[rest[0]]
        if len(rest) == 2 and rest[1].isdigit() and req.method == "PUT":
            upload["parts"][int(rest[1])] = req.body
            req.args = {"part": int(rest[1]), "bytes": len(req.body)}
            etag = '"' + hashlib.md5(req.body, usedforsecurity=False).hexdigest() + '"'
            return EmulatorResponse.raw(b"", "text/plain", headers={"etag": etag})
        if rest[1:] == ["complete"] and req.method == "POST":
            del self._multipart[rest[0]]
            data = b"".join(upload["parts"][k] for k in sorted(upload["parts"]))
            url = self._store_upload(
                req, data, upload["content_type"], upload["name"], file_id=upload["id"]
            )
            return json_response({"access_url": url})
        return self.app.not_found(req)
