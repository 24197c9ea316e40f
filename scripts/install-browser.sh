#!/usr/bin/env bash
# Debian packages the tests drive: chromium (Playwright drives it; it never downloads a browser),
# tmux (a real terminal for the progress-bar test), tuxpaint-stamps-default (real labelled drawings
# for the tag and tuning evaluations: pixseek.evaluation.drawings), and fonts for the OCR tests'
# rendered text: DejaVu and Liberation (Latin) and Noto CJK (Chinese; tests/test_words.py and
# tests/test_words_eval.py leave their Chinese cases out without it).
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v tmux >/dev/null || missing+=(tmux)
[ -d /usr/share/tuxpaint/stamps ] || missing+=(tuxpaint-stamps-default)
command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)  # reads back the tags' XMP sidecars
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing+=(fonts-dejavu-core)
[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || missing+=(fonts-liberation)
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
