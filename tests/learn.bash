# Loaded by the tests of the learning programs (fl-init, fl-train,
# fl-eval, fl-split, fl-stats): small data sets made on the spot.

# iris4.csv: 12 examples, a header, the label in the last column by name,
# 4 features, 3 well separated classes.
make_csv() {
	cat > iris4.csv <<'CSV'
a,b,c,d,species
5.1,3.5,1.4,0.2,0
4.9,3.0,1.4,0.2,0
4.7,3.2,1.3,0.2,0
5.0,3.6,1.4,0.2,0
7.0,3.2,4.7,1.4,1
6.4,3.2,4.5,1.5,1
6.9,3.1,4.9,1.5,1
5.5,2.3,4.0,1.3,1
6.3,3.3,6.0,2.5,2
5.8,2.7,5.1,1.9,2
7.1,3.0,5.9,2.1,2
6.3,2.9,5.6,1.8,2
CSV
}

# blobs.flt: 300 synthetic examples (4 features, 3 classes) as one data
# set record; blobs.csv the same as CSV; model.flt a logreg for them.
make_blobs() {
	fl-split --synthetic=300 --features=4 --classes=3 --seed=blobs \
	    -o blobs.flt
	fl-split --synthetic=300 --features=4 --classes=3 --seed=blobs \
	    --csv -o blobs.csv
	fl-init -a logreg:4-3 --seed=model -o model.flt
}

# idx_images FILE N ROWS COLS BYTES...: an IDX u8 images file.
idx_images() {
	local f=$1 n=$2 r=$3 c=$4
	shift 4
	{
		printf '\000\000\010\003'
		printf '%08x%08x%08x' "$n" "$r" "$c" | xxd -r -p
		printf '%02x' "$@" | xxd -r -p
	} > "$f"
}

# idx_labels FILE LABELS...: an IDX u8 labels file.
idx_labels() {
	local f=$1
	shift
	{
		printf '\000\000\010\001'
		printf '%08x' "$#" | xxd -r -p
		printf '%02x' "$@" | xxd -r -p
	} > "$f"
}

# get KEY FILE: the value of metadata KEY of FILE's first record.
get() {
	fl-inspect --get "$1" "$2" | head -n 1
}

# accuracy: the accuracy line of fl-eval's report as a number.
accuracy() {
	fl-eval "$@" | awk '$1 == "accuracy" { print $2 }'
}

# The last run failed with status 1 and one line on stderr containing
# TEXT (run with --separate-stderr).
fails_with() {
	assert_equal "$status" 1
	[[ $stderr == *"$1"* ]] ||
	    fail "stderr lacks '$1'"$'\n'"stderr: $stderr"
	assert_equal "${#stderr_lines[@]}" 1
}
