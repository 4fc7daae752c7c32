#!/bin/sh
# Make sure Debian's Chromium is at /usr/bin/chromium for the Playwright tests.
# Playwright's own browser download (`playwright install`) is never used.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  # The Debian wrapper prints a harmless "[: ...: unexpected operator" line; keep only the version.
  echo "chromium present: $("$CHROMIUM" --version 2>/dev/null | tail -n 1)"
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-chromium: $CHROMIUM is missing and we are not root (no sudo) to install it" >&2
    exit 1
  fi
fi

echo "chromium missing: installing Debian's chromium package"
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null | tail -n 1)"
