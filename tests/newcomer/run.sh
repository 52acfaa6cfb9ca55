#!/usr/bin/env bash
# A newcomer's first hour, timed (issue 26, "What it must show"). From a clone of this
# repository's HEAD (commit first: uncommitted changes are not in a clone), in a fresh venv:
#   1. the README's first command (install and demo), as the README writes it;
#   2. `python -m d360_calling phone` (after installing the media extra it needs), with
#      headless Chromium placing one call: the page hears the bot's greeting, key 1 brings
#      its tone, # ends the call; then Ctrl-C stops the command, which must exit 0;
#   3. the README's pytest example ("Testing your own code") in a fresh project with pytest
#      and pytest-asyncio, run as written.
# pip reaches the package registries (its cache keeps it quick). Needs git, Chromium and
# chromedriver, and a Python with selenium to drive the browser (DRIVER_PYTHON, default: the
# `python` on PATH; the dev extra has it). Every wait is bounded; temp dirs are removed.
# NEWCOMER_COPY_FROM=DIR copies a working tree instead of cloning, to try uncommitted changes.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/tests/newcomer"
BASE_PYTHON="${NEWCOMER_PYTHON:-python}" # makes the venv (Python >= 3.11)
DRIVER_PYTHON="$("${DRIVER_PYTHON:-python}" -c 'import sys; print(sys.executable)')"
WAIT=90 # seconds the phone command gets to print its URL, and to stop

WORK="$(mktemp -d "${TMPDIR:-/tmp}/d360-newcomer.XXXXXX")"
PHONE_PID=""
cleanup() {
    if [[ -n "$PHONE_PID" ]] && kill -0 "$PHONE_PID" 2>/dev/null; then
        kill -KILL "$PHONE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

TIMINGS=()
now() { date +%s.%N; }
seconds_since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.1f", end - start }'; }
finished() { # name start
    local took
    took="$(seconds_since "$2")"
    TIMINGS+=("$(printf '%6ss  %s' "$took" "$1")")
    echo "== ok: $1 (${took} s)"
}
fail() {
    echo "== FAILED: $*" >&2
    exit 1
}
show_log() { # file: its last lines, when a step failed
    echo "---- last lines of $1 ----" >&2
    tail -n 40 "$1" >&2 || true
}

ALL="$(now)"

START="$(now)"
if [[ -n "${NEWCOMER_COPY_FROM:-}" ]]; then
    echo "== a copy of $NEWCOMER_COPY_FROM (not a clone), in a fresh venv"
    cp -R "$NEWCOMER_COPY_FROM" "$WORK/d360-calling"
else
    echo "== a clone of $REPO at $(git -C "$REPO" rev-parse --short HEAD), in a fresh venv"
    git clone --quiet --no-hardlinks "$REPO" "$WORK/d360-calling"
fi
"$BASE_PYTHON" -m venv "$WORK/venv"
# shellcheck disable=SC1091
source "$WORK/venv/bin/activate"
cd "$WORK/d360-calling"
python -c 'import sys; assert sys.prefix != sys.base_prefix, "not in the venv"'
finished "clone and venv ($(python --version))" "$START"

FIRST="$(python "$HERE/readme_steps.py" first-command README.md)"
echo "== 1. the README's first command: $FIRST"
START="$(now)"
bash -c "$FIRST" >"$WORK/first.log" 2>&1 || { show_log "$WORK/first.log"; fail "$FIRST"; }
grep -E "^Summary: .* 0 failed" "$WORK/first.log" || { show_log "$WORK/first.log"; fail "the demo's summary"; }
finished "README first command" "$START"

echo "== 2. python -m d360_calling phone, called from headless Chromium"
START="$(now)"
python -m pip install --quiet -e '.[media]' >"$WORK/media.log" 2>&1 \
    || { show_log "$WORK/media.log"; fail "pip install -e '.[media]'"; }
finished "pip install -e '.[media]'" "$START"
START="$(now)"
# Job control on, so the command runs as a job that Ctrl-C (SIGINT) reaches: a script's plain
# background commands ignore SIGINT, and Python then never turns it into KeyboardInterrupt.
set -m
python -m d360_calling phone --port 0 >"$WORK/phone.log" 2>&1 &
PHONE_PID=$!
set +m
URL=""
for _ in $(seq $((WAIT * 10))); do
    URL="$(grep -oE 'http://127\.0\.0\.1:[0-9]+/phone' "$WORK/phone.log" | head -n 1 || true)"
    [[ -n "$URL" ]] && break
    kill -0 "$PHONE_PID" 2>/dev/null || { show_log "$WORK/phone.log"; fail "the phone command ended"; }
    sleep 0.1
done
[[ -n "$URL" ]] || { show_log "$WORK/phone.log"; fail "no phone URL printed within $WAIT s"; }
echo "   the command printed $URL"
read -r GREETING_HZ TONE_HZ < <(python -c \
    'from d360_calling.phone_bot_menu import GREETING_HZ, TONE_HZ; print(GREETING_HZ, TONE_HZ)')
"$DRIVER_PYTHON" "$HERE/call_the_bot.py" "$URL" --greeting-hz "$GREETING_HZ" --tone-hz "$TONE_HZ" \
    || { show_log "$WORK/phone.log"; fail "the call from Chromium"; }
kill -INT "$PHONE_PID"
for _ in $(seq $((WAIT * 10))); do
    kill -0 "$PHONE_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$PHONE_PID" 2>/dev/null; then
    show_log "$WORK/phone.log"
    fail "the phone command did not stop within $WAIT s of Ctrl-C"
fi
STATUS=0
wait "$PHONE_PID" || STATUS=$?
PHONE_PID=""
[[ "$STATUS" == 0 ]] || { show_log "$WORK/phone.log"; fail "the phone command exited $STATUS after Ctrl-C"; }
grep -q "key 1: a 1 kHz tone" "$WORK/phone.log" || { show_log "$WORK/phone.log"; fail "the bot's log"; }
if grep -q "Traceback" "$WORK/phone.log"; then show_log "$WORK/phone.log"; fail "a traceback"; fi
finished "phone: one call heard the greeting, Ctrl-C exited 0" "$START"

echo "== 3. the README's pytest example in a fresh project"
START="$(now)"
python -m pip install --quiet pytest pytest-asyncio >"$WORK/pytest-install.log" 2>&1 \
    || { show_log "$WORK/pytest-install.log"; fail "pip install pytest pytest-asyncio"; }
mkdir "$WORK/project"
python "$HERE/readme_steps.py" pytest-project README.md "$WORK/project" | sed 's/^/   wrote /'
(cd "$WORK/project" && python -m pytest -q) >"$WORK/pytest.log" 2>&1 \
    || { show_log "$WORK/pytest.log"; fail "the README's pytest example"; }
tail -n 1 "$WORK/pytest.log"
finished "README pytest example" "$START"

echo
echo "Timings:"
printf '%s\n' "${TIMINGS[@]}"
printf '%6ss  %s\n' "$(seconds_since "$ALL")" "total"
