#!/bin/sh
# Regenerate the seed corpus of fuzz-data (tests/fuzz/corpus-data).  Byte
# 0 of each input holds the options (0: detect the header, default label;
# see fuzz-data.c), then comes the data file, then optionally "\377LB\377"
# and an IDX labels file.  Run from anywhere, after make.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
dat=$top/tests/fuzz/corpus-data
rm -rf "$dat"
mkdir -p "$dat"
printf '\000label,a,b\n0,1,2.5\n1,-3e2,4\n2,0,0\n' > "$dat/header.csv"
printf '\002 1, 2 ,3\r\n0,"4",5\n' > "$dat/noheader.csv"
printf '\004a,b,c\n1,0,7\n0,1,8\n' > "$dat/label2.csv"
printf '\000\357\273\277label,x\n1,nan\n' > "$dat/bom-nan.csv"
printf '\000label,x\n1,2\n3\n' > "$dat/ragged.csv"
printf '\000l,"q""x",z\n0,1,"2\n' > "$dat/quote.csv"
printf '\000label,a,b\n0,1,2\n' | gzip -n > "$dat/csv.gz"
# IDX: 2 images of 2x2 bytes, then "\377LB\377" and 2 u8 labels
printf '\000\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002\001\002\003\004\005\006\007\010\377LB\377\000\000\010\001\000\000\000\002\001\011' > "$dat/idx"
printf '\000\000\000\015\002\000\000\000\001\000\000\000\002\077\200\000\000\177\200\000\000\377LB\377\000\000\010\001\000\000\000\001\003' > "$dat/idx-f32-inf"
printf '\000\000\000\010\003\377\377\377\377\377\377\377\377\000\000\000\002\001' > "$dat/idx-huge"
{ printf '\000'; "$top/bin/fl-split" --synthetic=5 --features=3 --seed=1 \
    -n 2; } > "$dat/dataset.flt"
