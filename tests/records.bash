# Loaded by the tests of programs that refuse bad records: an editor for
# records (through examples/python/flt.py) and the one shape of a refusal.

# edit IN OUT CODE: rewrite the records of IN into OUT with Python CODE,
# which edits recs, a list of (meta, tensors) with writable arrays.
edit() {
	"$PYTHON" - "$TOP/examples/python" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import flt
import numpy as np
src, dst, code = sys.argv[2:5]
with open(src, "rb") as f:
    recs = [(dict(m), {k: v.copy() for k, v in t.items()})
            for m, t in flt.read_records(f)]
exec(code)
with open(dst, "wb") as f:
    for m, t in recs:
        flt.write_record(f, m, t)
EOF
}

# refused FILE TEXT TARGET: after "run --separate-stderr": exit status 1,
# nothing on stdout, stderr naming FILE and saying TEXT, TARGET not made.
refused() {
	assert_equal "$status" 1
	[ -z "$output" ] || fail "wrote to stdout: $output"
	[[ $stderr == *"$1"* ]] || fail "stderr does not name '$1': $stderr"
	[[ $stderr == *"$2"* ]] || fail "stderr lacks '$2': $stderr"
	[ ! -e "$3" ] || fail "$3 was written"
	if compgen -G '.fl-tmp.*' > /dev/null; then
		fail "left a temporary file: $(echo .fl-tmp.*)"
	fi
}
