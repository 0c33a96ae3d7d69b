#!/usr/bin/env bash
# Debian packages the product and its tests need, installed when missing (both `make run`
# and `make test` call this). Needs root (or sudo) the first time; afterwards it only checks.
#   chromium          the browser the Playwright tests drive (never a downloaded browser build)
#   tesseract-ocr(-hin, -eng)  OCR of documents customers send (English and Hindi)
#   poppler-utils     pdftoppm: renders PDF pages without a text layer for OCR
#   curl              the README's copy-paste examples (and the first-run test that runs them)
#   fonts-lohit-deva  a Devanagari font: the OCR tests draw a receipt in Hindi
set -euo pipefail
packages=(chromium tesseract-ocr tesseract-ocr-eng tesseract-ocr-hin poppler-utils curl fonts-lohit-deva)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[system] installing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "[system] missing ${missing[*]}: install them with apt-get (root needed)" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
