#!/usr/bin/env bash
# Print the path of a CPython X.Y interpreter (the one argument, e.g. 3.12) that can make a venv
# with pip. Looks on PATH, then in pyenv's installed versions (pyenv's shims on PATH answer only
# for the versions it has activated), then in /usr/bin; as root, installs Debian's package when
# apt has one. Exits non-zero, saying what to install, when none is found.
set -euo pipefail
version="${1:?usage: find-python.sh X.Y}"

works() {
	[ -x "$1" ] && "$1" -c "import sys, venv, ensurepip; assert '%d.%d' % sys.version_info[:2] == '$version'" 2>/dev/null
}

candidates() {
	command -v "python$version" 2>/dev/null || true
	local root="${PYENV_ROOT:-$HOME/.pyenv}"
	if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root)"; fi
	# Newest patch release first.
	ls -d "$root/versions/$version".*/bin/"python$version" 2>/dev/null | sort -rV || true
	echo "/usr/bin/python$version"
}

for candidate in $(candidates); do
	if works "$candidate"; then
		echo "$candidate"
		exit 0
	fi
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	apt-get update -qq >/dev/null
	if apt-get install -y -qq "python$version" "python$version-venv" >/dev/null 2>&1 && works "/usr/bin/python$version"; then
		echo "/usr/bin/python$version"
		exit 0
	fi
fi
echo "no Python $version found: install it (pyenv install $version, or apt-get install python$version python$version-venv)" >&2
exit 1
