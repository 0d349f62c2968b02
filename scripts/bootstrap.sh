#!/usr/bin/env bash
# Installs what the project needs on a Debian bookworm machine: the Debian packages for
# libvlc (and ffmpeg, which makes the demo and test media), then a virtual environment in
# .venv with the project and its development tools. Safe to run again: it only does what
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# libvlc-bin: its plugin cache makes vlc.Instance() start in ms; vlc-plugin-video-output: the
# window (X11/Wayland) outputs used where DISPLAY is set; ffmpeg: makes demo and test media;
# faketime: the tests run an agent whose clock is years off, as a Pi without RTC can be.
# dpkg-dev, lintian, binutils-aarch64-linux-gnu, systemd: `make deb` builds the Debian
# package (stripping arm64 objects too), the tests check it with lintian and check the unit
# with systemd-analyze; fonts-dejavu-core and adduser: what the package depends on.
DEB_PACKAGES=(libvlc5 vlc-plugin-base vlc-plugin-video-output libvlc-bin ffmpeg faketime xvfb  # xvfb: player tests read a bare X screen
              dpkg-dev lintian binutils-aarch64-linux-gnu systemd fonts-dejavu-core adduser
              zbar-tools  # zbar-tools: zbarimg decodes the enrollment screen's QR code in tests
              chromium chromium-driver)  # the /activate browser test (selenium drives chromium headless)
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
         --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2; echo "bootstrap: apt-get failed (full log: $log)" >&2; exit 1
  fi
  rm -f "$log"
fi

if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "bootstrap: $PYTHON is older than 3.11" >&2; exit 1
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  echo "bootstrap: installing python3-venv"
  DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq python3-venv >/dev/null
fi

stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: creating $VENV with the project and its dev tools"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # pip's notes about unreachable extra index folders on some machines, and setuptools' banner
  # about editable installs, are noise here; a failed install still fails the import check below.
  export PYTHONWARNINGS=ignore
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored: it is neither" || true
  "$VENV/bin/python" -m pip install -q -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither" || true
  unset PYTHONWARNINGS
  "$VENV/bin/python" -c "import agent, player, sync, cloud, vlc, fastapi" # fail loudly if the install did not
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
