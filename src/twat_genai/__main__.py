import sys

from twat_genai.cli import main

sys.exit(main())
