#!/bin/sh
# tests/split/kill9.sh: the kill9 variant of the split-brain test (splitbrain.sh).
exec "$(dirname "$0")/splitbrain.sh" kill9
