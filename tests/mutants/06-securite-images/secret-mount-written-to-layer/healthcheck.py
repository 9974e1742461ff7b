"""Sonde de santé : code 0 si /health répond 200, 1 sinon (bibliothèque standard seulement)."""
import sys
import urllib.request

try:
    with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=2) as resp:
        sys.exit(0 if resp.status == 200 else 1)
except OSError:
    sys.exit(1)
