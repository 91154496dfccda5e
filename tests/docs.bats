#!/usr/bin/env bats
# The documentation: man pages lint-clean and complete, their examples run
# and print what the pages show, and the shell completions know every
# option of every program.
#
# Example convention: in the EXAMPLES (and, in fl.7, COOKBOOK) section of a
# page, a line of a literal display that starts with "$ " is a command; a
# trailing backslash continues it on the next line.  The lines after it, up
# to the next command or the end of the display, are its output (standard
# output and standard error).  Each page's commands run in order in one
# scratch directory, each must exit 0, and when output is shown it must be
# what the command prints (in any line order, since the two streams
# interleave differently through a pipe; trailing blanks ignored).

load helper

PAGES=("$TOP"/man/man1/*.1 "$TOP"/man/man5/*.5 "$TOP"/man/man7/*.7)

# man_text PAGE: PAGE rendered as plain text.
man_text() {
	mandoc -T ascii "$1" | sed 's/.\x08//g'
}

# man_examples PAGE: "CMD command" and "OUT line" lines for PAGE's examples.
man_examples() {
	man_text "$1" | awk '
		/^[A-Z]/ { on = ($0 == "EXAMPLES" || $0 == "COOKBOOK"); shown = 0; next }
		!on { next }
		cont {
			sub(/^[ \t]+/, "")
			line = line " " $0
			if (!(cont = sub(/[ \t]*\\$/, "", line))) print "CMD " line
			next
		}
		/^[ \t]*\$ / {
			match($0, /^[ \t]*/)
			indent = RLENGTH
			line = substr($0, indent + 3)
			if (!(cont = sub(/[ \t]*\\$/, "", line))) print "CMD " line
			shown = 1
			next
		}
		/^[ \t]*$/ { shown = 0; next }
		shown { print "OUT " substr($0, indent + 1) }
	'
}

# The long options of PROG's --help, one per line.
long_options() {
	"$1" --help | sed -n 's/^ *\(-[[:alnum:]], \)\{0,1\}\(--[[:alnum:]-]*\).*/\2/p' |
	    sort -u
}

# complete_line LINE: what completions/fl.bash offers for LINE, one per
# line, with the cursor at its end.  LINE is split into words the way bash
# does it for lines without quotes: at blanks, and around runs of ':' and
# '=' (the word-break characters that matter here).
complete_line() {
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$TOP/completions/fl.bash"
		line=$1 rest=$1 words=()
		while [[ $rest =~ ^[[:space:]]*([:=]+|[^[:space:]:=]+) ]]; do
			words+=("${BASH_REMATCH[1]}")
			rest=${rest:${#BASH_REMATCH[0]}}
		done
		[[ $line == *[[:space:]] ]] && words+=("")
		COMP_LINE=$line COMP_POINT=${#line}
		COMP_WORDS=("${words[@]}") COMP_CWORD=$((${#words[@]} - 1))
		f=_fl
		[[ ${words[0]} == fl ]] && f=_fl_multi
		$f "${words[0]}" "${words[COMP_CWORD]}" "${words[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete_line "$1" 2>/dev/null
}

# zsh_block PROG: the lines of completions/_fl that apply to PROG (the
# common options and PROG's branch of the case).
zsh_block() {
	awk -v prog="$1" '
		/^common=\(/, /^\)/ { print }
		$0 == prog ")" { on = 1 }
		on { print }
		on && /;;/ { on = 0 }
	' "$TOP/completions/_fl"
}

@test "docs: mandoc -T lint -W warning is clean on every page" {
	for page in "${PAGES[@]}"; do
		run mandoc -T lint -W warning "$page"
		[ "$status" -eq 0 ] || fail "${page#"$TOP"/}: $output"
	done
}

@test "docs: the overview, the format page and a page per program exist" {
	[ -f "$TOP/man/man7/fl.7" ] || fail "no man/man7/fl.7"
	[ -f "$TOP/man/man5/flt.5" ] || fail "no man/man5/flt.5"
	local p n=0
	for p in $(fl_programs); do
		[ -f "$TOP/man/man1/$p.1" ] || fail "$p has no man/man1/$p.1"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "no programs found"
}

@test "docs: every program is listed in fl(7) and every page names itself" {
	local p
	for p in $(fl_programs); do
		grep -q "^\.Xr $p 1" "$TOP/man/man7/fl.7" ||
		    fail "fl.7 does not list $p with .Xr $p 1"
		grep -q "^\.Nm $p\$" "$TOP/man/man1/$p.1" ||
		    fail "$p.1: NAME is not .Nm $p"
	done
}

@test "docs: each SYNOPSIS reads as the usage of --help" {
	local p want got
	for p in $(fl_programs); do
		want=$("$p" --help | sed -n '1,/^$/p' | sed 's/^usage: //' |
		    tr -s ' \n' ' ' | sed 's/ $//')
		got=$(man_text "$TOP/man/man1/$p.1" |
		    sed -n '/^SYNOPSIS/,/^[A-Z]/{/^[A-Z]/d;p;}' |
		    tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
		[ "$got" = "$want" ] ||
		    fail "$p.1 SYNOPSIS: '$got'"$'\n'"--help usage:  '$want'"
	done
}

@test "docs: every --option of --help is in the man page as Fl -option" {
	local p opt
	for p in $(fl_programs); do
		for opt in $(long_options "$p"); do
			grep -Eq "Fl ${opt#-}([^[:alnum:]-]|\$)" "$TOP/man/man1/$p.1" ||
			    fail "$p.1 lacks 'Fl ${opt#-}' for $opt"
		done
	done
}

@test "docs: every --option of --help is in the zsh completion" {
	local p opt block
	for p in $(fl_programs); do
		block=$(zsh_block "$p")
		grep -q "^$p)" "$TOP/completions/_fl" ||
		    fail "completions/_fl has no branch for $p"
		for opt in $(long_options "$p"); do
			# An option spec: {-j,--json}, --diff[...], --get=[...],
			# --opt=-[...] (an optional argument in the same word)
			grep -Eq -- "(^|[{,')])$opt(=-|[=+])?[]}[]" <<<"$block" ||
			    fail "completions/_fl lacks $opt for $p"
		done
	done
	head -n 1 "$TOP/completions/_fl" | grep -q '^#compdef ' ||
	    fail "completions/_fl does not start with #compdef"
	for p in $(fl_programs); do
		head -n 1 "$TOP/completions/_fl" | grep -Eq " $p( |\$)" ||
		    fail "the #compdef line does not name $p"
	done
}

@test "docs: bash completion offers every --option of --help" {
	local p opt offered
	for p in $(fl_programs); do
		offered=$(complete_line "$p --")
		for opt in $(long_options "$p"); do
			grep -Eqx -- "$opt=?" <<<"$offered" ||
			    fail "bash completion of '$p --' lacks $opt: $offered"
		done
	done
}

@test "docs: bash completion of fl PROGRAM: the names, then the program's own" {
	local p opt offered
	local fl=${FL_BIN:-$TOP/bin}/fl
	# (make valgrind wraps only the fl-* programs; make check-cross's
	# wrapper is the fl that runs)
	[ -x "$fl" ] || fl=${FL_REAL_BIN:-${FL_BIN:-$TOP/bin}}/fl
	PATH=$BATS_TEST_TMPDIR:$PATH
	ln -s "$fl" "$BATS_TEST_TMPDIR/fl"
	offered=$(complete_line "fl ")
	for p in $(fl_programs); do
		grep -qx -- "${p#fl-}" <<<"$offered" ||
		    fail "bash completion of 'fl ' lacks ${p#fl-}: $offered"
	done
	run complete_line "fl tr"
	assert_output "train"
	offered=$(complete_line "fl train --")
	for opt in $(long_options fl-train); do
		grep -Eqx -- "$opt=?" <<<"$offered" ||
		    fail "bash completion of 'fl train --' lacks $opt"
	done
	run complete_line "fl aggregate --rule "
	assert_output --partial "median"
	run complete_line "fl apply --optimizer=a"
	assert_line "adagrad"
}

@test "docs: bash completion is registered for every program and fl-* name" {
	local p
	for p in $(fl_programs); do
		run bash -c 'source /usr/share/bash-completion/bash_completion
			source "$TOP/completions/fl.bash"; complete -p "$1"' _ "$p"
		assert_success
		assert_output --partial "-F _fl"
	done
	# Installed under a new program's name, the file completes that name.
	cp "$TOP/completions/fl.bash" fl-future
	run bash -c 'source /usr/share/bash-completion/bash_completion
		source ./fl-future; complete -p fl-future'
	assert_success
}

@test "docs: bash completion: *.flt after -o and for operands, files after =@" {
	mkdir sub
	touch a.flt b.flt notes.txt values.txt
	run complete_line "fl-inspect -o "
	assert_line a.flt
	assert_line b.flt
	refute_line notes.txt
	run complete_line "fl-inspect --output=b"
	assert_output b.flt
	run complete_line "fl-inspect --diff a.flt "
	assert_line b.flt
	refute_line notes.txt
	run complete_line "fl-pack -t w:f32:2x2=@v"
	assert_output @values.txt
	run complete_line "fl-pack --tensor=w:f32=@n"
	assert_output @notes.txt
	run complete_line "fl-inspect --dump="
	assert_output ""
}

@test "docs: bash completion offers the values zsh's does, after --opt= and -o" {
	local p opts words opt n=0
	# Each zsh spec with a word list: "fl-xxx" then its options and words.
	while read -r p opts words; do
		for opt in ${opts//,/ }; do
			n=$((n + 1))
			if [[ $opt == --* ]]; then
				run complete_line "$p $opt="
			else
				run complete_line "$p $opt "
			fi
			assert_equal "$(sort <<<"$output" | xargs)" \
			    "$(tr ' ' '\n' <<<"$words" | sort | xargs)"
		done
	done < <(awk '/^fl-[a-z-]*\)$/ { p = substr($1, 1, length($1) - 1) }
	    /:\(.*\)'"'"'/ && !/_files/ {
		w = $0; sub(/.*:\(/, "", w); sub(/\)'"'"'.*/, "", w); gsub(/\\:/, ":", w)
		o = $0; sub(/^[ \t]*'"'"'\([^)]*\)/, "", o)
		sub(/\[.*/, "", o); gsub(/[^-a-z,]+/, " ", o)
		gsub(/^[^-]*/, "", o); opts = ""
		n = split(o, parts, /[ ,]+/)
		for (i = 1; i <= n; i++)
			if (parts[i] ~ /^--?[a-z]/ && index("," opts ",", "," parts[i] ",") == 0)
				opts = opts (opts == "" ? "" : ",") parts[i]
		print p, opts, w }' "$TOP/completions/_fl")
	[ "$n" -ge 14 ] || fail "only $n option specs with words found in _fl"
}

@test "docs: completions pass bash -n, shellcheck and zsh -n" {
	run bash -n "$TOP/completions/fl.bash"
	assert_success
	run shellcheck -s bash "$TOP/completions/fl.bash"
	assert_success
	run zsh -n "$TOP/completions/_fl"
	assert_success
}

@test "docs: the examples of every page run and print what the page shows" {
	not_under_sanitizers "every page's examples, run as scripts"
	local page kind text cmd want got n i
	local -a cmds wants
	for page in "${PAGES[@]}"; do
		cmds=() wants=() n=0
		while IFS= read -r line; do
			kind=${line%% *} text=${line#* }
			[ "$kind" = "$line" ] && text=
			if [ "$kind" = CMD ]; then
				cmds[n]=$text wants[n]= n=$((n + 1))
			else
				wants[n - 1]+=$text$'\n'
			fi
		done < <(man_examples "$page")
		[ "$n" -gt 0 ] || fail "${page#"$TOP"/}: no example commands"

		# Every page starts from a fresh directory with a few records.
		rm -rf "$BATS_TEST_TMPDIR/ex" && mkdir "$BATS_TEST_TMPDIR/ex"
		cd "$BATS_TEST_TMPDIR/ex" || fail "cannot cd"
		fl-pack -m kind=update -m round=1 -t w:f32:2x2=1,2,3,4 -o a.flt
		fl-pack -m kind=update -m round=2 -t w:f32:2x2=1,2,3,5 -o b.flt
		cp a.flt update.flt
		for ((i = 0; i < n; i++)); do
			cmd=${cmds[i]}
			run bash -o pipefail -c "$cmd"
			[ "$status" -eq 0 ] ||
			    fail "${page#"$TOP"/}: '$cmd' exited $status: $output"
			[ -n "${wants[i]}" ] || continue
			got=$(sed 's/[[:blank:]]*$//' <<<"$output" | LC_ALL=C sort)
			want=$(printf %s "${wants[i]}" | sed 's/[[:blank:]]*$//' |
			    LC_ALL=C sort)
			[ "$got" = "$want" ] ||
			    fail "${page#"$TOP"/}: '$cmd' printed:"$'\n'"$output"$'\n'"the page shows:"$'\n'"${wants[i]}"
		done
	done
}

@test "docs: the Python reader in flt(5) reads a stream as shown" {
	$PYTHON -c 'import numpy' 2>/dev/null || skip "no numpy for $PYTHON"
	sed -n '/^\.\\" begin flt-read.py/,/^\.\\" end flt-read.py/p' \
	    "$TOP/man/man5/flt.5" | sed '/^\./d; s/\\e/\\/g' > flt-read.py
	[ -s flt-read.py ] || fail "no Python sketch between the markers"
	fl-pack -m kind=update -m round=12 -t w:f32:2x2=0.5,-1,2,0.25 \
	    -t b:f32=1,-1 -t s:i64:[]=7 -o plain.flt
	fl-pack -z -m kind=model -t z:u8:[3]=1,2,3 -t e:f64:[0]= -o packed.flt
	fl-pack -t h:f16=0.1,-65504 -t g:bf16:1x2=0.1,-3 -o half.flt
	run bash -c "cat plain.flt packed.flt half.flt | $PYTHON flt-read.py"
	assert_success
	assert_line --index 0 "{'kind': 'update', 'round': '12'} {'w': [[0.5, -1.0], [2.0, 0.25]], 'b': [1.0, -1.0], 's': 7}"
	assert_line --index 1 "{'kind': 'model'} {'z': [1, 2, 3], 'e': []}"
	assert_line --index 2 "{} {'h': [0.0999755859375, -65504.0], 'g': [[0.10009765625, -3.0]]}"
	# A cut stream is an error, not a short read.
	run bash -c "head -c 300 plain.flt | $PYTHON flt-read.py"
	assert_failure
	assert_output --partial "truncated or corrupt"
}

@test "docs: the layers of lib/LAYERS, each in fl(7) ARCHITECTURE and in the README's Layout, and nothing more" {
	local dirs d
	dirs=$(sed -n 's/^\([a-z]*\):.*/\1/p' "$TOP/lib/LAYERS")
	[ "$(echo "$dirs" | wc -l)" -ge 7 ] || fail "lib/LAYERS lists: $dirs"
	for d in $dirs; do
		[ -d "$TOP/lib/$d" ] || fail "lib/LAYERS names $d, not a folder"
		grep -q "^\.It Pa lib/$d/$" "$TOP/man/man7/fl.7" || fail "fl(7) lacks lib/$d/"
		grep -q "^| \`lib/$d/\` |" "$TOP/README.md" || fail "README lacks lib/$d/"
	done
	for d in "$TOP"/lib/*/; do
		d=$(basename "$d")
		echo "$dirs" | grep -qx "$d" || fail "lib/$d/ is not in lib/LAYERS"
	done
	[ "$(grep -c '^\.It Pa lib/[a-z]*/$' "$TOP/man/man7/fl.7")" = "$(echo "$dirs" | wc -l)" ] ||
	    fail "fl(7) lists other folders"
}
