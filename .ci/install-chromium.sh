#!/bin/sh
# Headless Chromium for tests/test_report.py (Debian package "chromium").
set -e
if [ ! -x /usr/bin/chromium ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
