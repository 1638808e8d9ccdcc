# Sourced by scripts/test and scripts/demo: a virtualenv in .venv with the project installed.
# Needs Python 3.11+ (set PYTHON to choose one); Java 17+ and Maven are checked when the local
# Kafka broker is first started, with a message that says what to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1 || echo missing)); set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Reinstall only when the project's dependencies changed since the last install.
# Quiet when it works; on failure, everything pip said.
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
    echo "installing the project and its dependencies into .venv (first run only)..." >&2
    pip_log=$(mktemp)
    if ! { .venv/bin/python -m pip install --upgrade pip \
            && .venv/bin/python -m pip install -e '.[dev]'; } >"$pip_log" 2>&1; then
        cat "$pip_log" >&2
        echo "error: installing into .venv failed (pip's output above)" >&2
        rm -f "$pip_log"
        exit 1
    fi
    rm -f "$pip_log" .venv/.installed-*
    touch "$stamp"
fi
