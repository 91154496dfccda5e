#!/bin/sh
# What-if for the pipe case: bench/limits.c's readcrc reads stdin into a
# 256 MiB buffer and checksums it, like fl_record_read, with one change at a
# time.  Not fltools code: it shows what each change to lib/format/read.c would buy.
set -eu
. bench/lib.sh

f=$WORK/f32-1g.flt
bytes=$(size_of "$f")
l=$WORK/limits
set -- "cat $f | cat > /dev/null" "cat $f | $FL_BIN/fl-inspect --check" \
    "cat $f | $l readcrc -c 268435456" \
    "cat $f | $l readcrc -c 1048576" \
    "cat $f | $l readcrc -c 1048576 -H" \
    "cat $f | $l readcrc -c 1048576 -p 1048576"
if "$l" version | grep -q libdeflate; then
	set -- "$@" "cat $f | $l readcrc -c 1048576 -d" \
	    "cat $f | $l readcrc -c 1048576 -p 1048576 -d" \
	    "cat $f | $l readcrc -c 1048576 -p 1048576 -d -H"
fi
hf whatif "$@"
count=$#
rate() { gbps "$bytes" "$(hfget whatif "$1" min)"; }

echo "## What-if: reading from a pipe"
echo
echo "bench/limits.c readcrc: read stdin into a 256 MiB buffer and crc32 it;"
echo "-c 268435456 reads a whole record, then checksums it (as lib/format/read.c"
echo "does now); -c 1048576 checksums each 1 MiB as it lands; -H asks for"
echo "transparent huge pages for the buffer (madvise); -p 1048576 grows the"
echo "pipe to 1 MiB (F_SETPIPE_SZ); -d uses libdeflate's crc32.  Baseline:"
echo "the pipe ceiling."
echo
table_head
i=1
while [ "$i" -lt "$count" ]; do
	cmd=$(hfcmd whatif "$i")
	what=${cmd#cat "$f" | }
	row "$what" "$(tput "$bytes" whatif "$i")" "cat \| cat (pipe ceiling)" \
	    "$(rate 0) GB/s" "$(ratio "$(rate "$i")" "$(rate 0)")" "$cmd"
	i=$((i + 1))
done
echo
