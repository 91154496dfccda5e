# bash completion for the fltools programs (fl-*, and fl PROGRAM) -*- shell-script -*-
# SPDX-License-Identifier: ISC
#
# bash-completion loads a command's completion from a file named after the
# command, so this one file is installed under the name of every program.
# It registers the programs it knows and the name it was loaded under: a new
# fl-* program is covered by installing it under one more name.  Options come
# from the program's own --help, so they cannot drift from it.

# Readline replaces only the text after the last word-break character of
# the word ($1, by default after the last ':' or '='): drop the rest from
# the candidates.
_fl_ltrim()
{
    local keep=${1##*["$COMP_WORDBREAKS"]}
    local drop=${1%"$keep"}

    if [[ $drop ]]; then
        COMPREPLY=("${COMPREPLY[@]#"$drop"}")
    fi
}

# Whether option $2 of program $1 takes an argument: its --help line reads
# "-d, --dump=NAME  ..." or "--tolerance=T  ...".
_fl_takes_arg()
{
    local line opt
    local -a opts

    while read -r line; do
        [[ $line == -* ]] || continue
        line=${line%%"  "*}
        read -r -a opts <<<"${line//,/ }"
        for opt in "${opts[@]}"; do
            if [[ $opt == "$2="* || ($opt == "$2" && $line == *=*) ]]; then
                return 0
            fi
        done
    done < <(LC_ALL=C "$1" --help 2>/dev/null)
    return 1
}

# The words an option's value is one of, for program $1 and option $2; the
# zsh completion (_fl) lists the same, which tests/docs.bats checks.
_fl_words()
{
    case ${1##*/}:$2 in
        fl-account:-a | fl-account:--accountant)
            echo rdp rdp-classic pld exact ;;
        fl-account:-m | fl-account:--mechanism)
            echo gaussian discrete-gaussian skellam tree banded ;;
        fl-clip-noise:-m | fl-clip-noise:--mechanism)
            echo gaussian discrete-gaussian skellam ;;
        fl-account:--orders) echo default opacus dp-accounting ;;
        fl-aggregate:-r | fl-aggregate:--rule)
            echo mean sum median trimmed-mean krum ;;
        fl-apply:--optimizer) echo sgd avgm adagrad adam yogi ;;
        fl-aggregate:--dtype | fl-apply:--dtype | fl-quantize:--dtype)
            echo f32 f64 f16 bf16 ;;
        fl-apply:--estimator) echo plain honaker ;;
        fl-apply:--mechanism) echo tree banded ;;
        fl-clip-noise:--per-tensor) echo equal size ;;
        fl-init:-a | fl-init:--arch) echo logreg:784-10 mlp:784-128-10 ;;
        fl-quantize:-e | fl-quantize:--eden) echo 1 2 3 4 ;;
        fl-quantize:--rotation) echo hd none ;;
        *) return 1 ;;
    esac
}

_fl()
{
    # shellcheck disable=SC2034 # words and cword are set for _init_completion
    local cur prev words cword split
    _init_completion -s -n : || return

    case $prev in
        -o | --output)
            _filedir flt
            _fl_ltrim "$cur"
            return
            ;;
        -t | --tensor)
            # NAME:DTYPE[:SHAPE]=@FILE reads the values from FILE.
            if [[ $cur == *=@* ]]; then
                local spec=${cur%%=@*}=@
                cur=${cur#*=@}
                _filedir
                COMPREPLY=("${COMPREPLY[@]/#/"$spec"}")
                _fl_ltrim "$spec$cur"
            fi
            return
            ;;
    esac
    # The learning programs' record and data files.
    case ${1##*/}:$prev in
        fl-eval:-m | fl-stats:-m | fl-train:-m | *:--model | \
            *:--normalize | *:--class-weights | fl-quantize:--residual | \
            fl-apply:--ftrl | fl-clip-noise:--participation)
            _filedir flt
            _fl_ltrim "$cur"
            return
            ;;
        *:--labels)
            _filedir
            return
            ;;
        # Secure aggregation: identities, enrolments, key files, rosters,
        # share envelopes, survivor lists, confirmations and reveals,
        # whatever their names.
        fl-mask:-i | fl-mask:--identity | fl-mask:--operator | \
            fl-mask:-e | fl-mask:--enrolment | fl-mask:-k | fl-mask:--key | \
            fl-mask:-r | fl-mask:--roster | fl-mask:-s | fl-mask:--shares | \
            fl-mask:--confirm | fl-mask:--confirmations | fl-mask:--reveal | \
            fl-aggregate:--roster | fl-aggregate:--shares | \
            fl-aggregate:--reveals)
            _filedir
            _fl_ltrim "$cur"
            return
            ;;
    esac
    local values
    if values=$(_fl_words "$1" "$prev"); then
        mapfile -t COMPREPLY < <(compgen -W "$values" -- "$cur")
        _fl_ltrim "$cur"
        return
    fi
    # Any other option argument is a name, a key or a number.
    if [[ $prev == -* ]] && _fl_takes_arg "$1" "$prev"; then
        return
    fi
    $split && return

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_parse_help "$1")" -- "$cur")
        if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
            compopt -o nospace
        fi
        return
    fi
    case ${1##*/} in
        fl-init | fl-pack) return ;; # no operands
        fl-mask)
            _filedir # public keys and identities, or the update
            _fl_ltrim "$cur"
            return
            ;;
        fl-eval | fl-split | fl-stats | fl-train)
            _filedir # data: CSV, IDX or records
            return
            ;;
    esac
    _filedir flt
    _fl_ltrim "$cur"
}

# fl PROGRAM ... (the multi-call binary): the program's name first (from
# fl --help), then the words after it completed as fl-PROGRAM's, as if
# fl-PROGRAM (installed, or a link to fl) had been typed.
_fl_multi()
{
    local cur=${COMP_WORDS[COMP_CWORD]}

    if ((COMP_CWORD == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "$(LC_ALL=C "$1" --help \
            2>/dev/null | sed -n 's/^  \([a-z][a-z-]*\)$/\1/p') --help --version" \
            -- "$cur")
        return
    fi
    local prog=fl-${COMP_WORDS[1]}
    local pre=${COMP_LINE%%"${COMP_WORDS[1]}"*}${COMP_WORDS[1]}
    COMP_LINE=$prog${COMP_LINE:${#pre}}
    COMP_POINT=$((COMP_POINT - ${#pre} + ${#prog}))
    COMP_WORDS=("$prog" "${COMP_WORDS[@]:2}")
    COMP_CWORD=$((COMP_CWORD - 1))
    _fl "$prog"
}

complete -F _fl_multi fl
complete -F _fl fl-account fl-aggregate fl-apply fl-clip-noise fl-eval fl-init fl-inspect fl-mask fl-pack fl-quantize fl-split fl-stats fl-train
if [[ ${BASH_SOURCE[0]##*/} == fl-* ]]; then
    complete -F _fl "${BASH_SOURCE[0]##*/}"
fi

# ex: filetype=sh
