"""Providers: one small class each that turns a neutral request into wire calls."""
