#!/bin/sh
# tests/balance/indexdrop-held.sh: indexdrop.sh with a session held open across the index drop.
exec "$(dirname "$0")/indexdrop.sh" held
