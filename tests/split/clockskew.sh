#!/bin/sh
# tests/split/clockskew.sh: the clockskew variant of the split-brain test (splitbrain.sh).
exec "$(dirname "$0")/splitbrain.sh" clock
