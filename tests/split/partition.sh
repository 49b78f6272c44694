#!/bin/sh
# tests/split/partition.sh: the partition variant of the split-brain test (splitbrain.sh).
exec "$(dirname "$0")/splitbrain.sh" partition
