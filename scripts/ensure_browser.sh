#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the book's browser test (Debian packages chromium, chromium-driver:
# /usr/bin/chromium, /usr/bin/chromedriver). Idempotent: nothing is done when both are there, and
# `apt-get update` runs only when the install fails without it. Never fails the set-up: without the browser,
# tests/report/test_book.py says what to install.
set -u
pkgs="chromium chromium-driver"
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: no apt-get here; install Chromium and chromedriver yourself for tests/report/test_book.py" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "ensure_browser: not root and no sudo; run: apt-get install $pkgs" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "ensure_browser: installing $pkgs (Debian packages) for the book's browser test"
if ! $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null \
        || echo "ensure_browser: could not install $pkgs; tests/report/test_book.py needs them" >&2
fi
exit 0
