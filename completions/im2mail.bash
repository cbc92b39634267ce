# bash completion for im2mail. Generated from im2mail/cli/; do not edit.
# Regenerate after changing the CLI: python -m im2mail.cli.completion
# Install: source it in ~/.bashrc or copy it to /usr/share/bash-completion/completions/im2mail

# The sub-commands of command $1.
_im2mail_subcommands() {
    case $1 in
        "im2mail") echo "block bot conversations customers demo doctor export forget import init path run search stats status systemd-unit tail unblock vacuum webhook widget" ;;
        "im2mail bot") echo "add list remove" ;;
        "im2mail conversations") echo "rotate-token" ;;
        "im2mail customers") echo "link unlink" ;;
        "im2mail import") echo "telegram-export" ;;
        "im2mail webhook") echo "delete info set" ;;
    esac
}

# The options of command $1.
_im2mail_options() {
    case $1 in
        "im2mail") echo "--debug -h --help --version" ;;
        "im2mail block") echo "-h --help" ;;
        "im2mail bot") echo "-h --help" ;;
        "im2mail bot add") echo "--api-url -h --help --mode --phone-number-id --token-stdin" ;;
        "im2mail bot list") echo "-h --help --json" ;;
        "im2mail bot remove") echo "-h --help" ;;
        "im2mail conversations") echo "-h --help --json --waiting" ;;
        "im2mail conversations rotate-token") echo "--all -h --help" ;;
        "im2mail customers") echo "-h --help" ;;
        "im2mail customers link") echo "-h --help" ;;
        "im2mail customers unlink") echo "-h --help" ;;
        "im2mail demo") echo "-h --help --home --speed" ;;
        "im2mail doctor") echo "-h --help --json" ;;
        "im2mail export") echo "--all --force --format -h --help -o --output --versions" ;;
        "im2mail forget") echo "--dry-run -h --help" ;;
        "im2mail import") echo "-h --help" ;;
        "im2mail import telegram-export") echo "-h --help" ;;
        "im2mail init") echo "--address --authserv-id --greeting -h --help --imap-folder --imap-host --imap-password-stdin --imap-port --imap-security --imap-username --listen --manager --no-check --non-interactive --processed-folder --public-url --smtp-host --smtp-password-stdin --smtp-port --smtp-security --smtp-username" ;;
        "im2mail path") echo "-h --help --json" ;;
        "im2mail run") echo "-h --help --once" ;;
        "im2mail search") echo "--channel --customer --exact -h --help --json --limit --since --until" ;;
        "im2mail stats") echo "-h --help --json --since --until" ;;
        "im2mail status") echo "-h --help --json" ;;
        "im2mail systemd-unit") echo "--force -h --help --install --user" ;;
        "im2mail tail") echo "-c --conversation -f --follow -h --help --json -n --lines --versions" ;;
        "im2mail unblock") echo "-h --help" ;;
        "im2mail vacuum") echo "--dry-run -h --help --keep-files-days --keep-messages-days" ;;
        "im2mail webhook") echo "-h --help" ;;
        "im2mail webhook delete") echo "-h --help" ;;
        "im2mail webhook info") echo "-h --help --json" ;;
        "im2mail webhook set") echo "-h --help" ;;
        "im2mail widget") echo "--bot --force -h --help -o --output --print --source" ;;
    esac
}

# What option $2 of $1 takes, if any.
_im2mail_option_value() {
    case "$1 $2" in
        "im2mail bot add --api-url") echo "text" ;;
        "im2mail bot add --mode") echo "words:polling webhook" ;;
        "im2mail bot add --phone-number-id") echo "text" ;;
        "im2mail demo --home") echo "file" ;;
        "im2mail demo --speed") echo "text" ;;
        "im2mail export --format") echo "words:mbox html" ;;
        "im2mail export -o" | "im2mail export --output") echo "file" ;;
        "im2mail init --address") echo "text" ;;
        "im2mail init --authserv-id") echo "text" ;;
        "im2mail init --greeting") echo "text" ;;
        "im2mail init --imap-folder") echo "text" ;;
        "im2mail init --imap-host") echo "text" ;;
        "im2mail init --imap-port") echo "text" ;;
        "im2mail init --imap-security") echo "text" ;;
        "im2mail init --imap-username") echo "text" ;;
        "im2mail init --listen") echo "text" ;;
        "im2mail init --manager") echo "text" ;;
        "im2mail init --processed-folder") echo "text" ;;
        "im2mail init --public-url") echo "text" ;;
        "im2mail init --smtp-host") echo "text" ;;
        "im2mail init --smtp-port") echo "text" ;;
        "im2mail init --smtp-security") echo "text" ;;
        "im2mail init --smtp-username") echo "text" ;;
        "im2mail search --channel") echo "words:telegram viber messenger whatsapp" ;;
        "im2mail search --customer") echo "text" ;;
        "im2mail search --limit") echo "text" ;;
        "im2mail search --since") echo "text" ;;
        "im2mail search --until") echo "text" ;;
        "im2mail stats --since") echo "text" ;;
        "im2mail stats --until") echo "text" ;;
        "im2mail tail -c" | "im2mail tail --conversation") echo "text" ;;
        "im2mail tail -n" | "im2mail tail --lines") echo "text" ;;
        "im2mail vacuum --keep-files-days") echo "text" ;;
        "im2mail vacuum --keep-messages-days") echo "text" ;;
        "im2mail widget --bot") echo "text" ;;
        "im2mail widget -o" | "im2mail widget --output") echo "file" ;;
        "im2mail widget --source") echo "text" ;;
        *) return 1 ;;
    esac
}

# What argument $2 (from 0) of $1 takes.
_im2mail_argument() {
    case "$1:$2" in
        "im2mail block:0") echo "text" ;;
        "im2mail bot add:0") echo "words:telegram viber messenger whatsapp" ;;
        "im2mail bot add:1") echo "text" ;;
        "im2mail bot remove:0") echo "text" ;;
        "im2mail conversations rotate-token:"*) echo "text" ;;
        "im2mail customers link:0") echo "text" ;;
        "im2mail customers link:1") echo "text" ;;
        "im2mail customers unlink:0") echo "text" ;;
        "im2mail export:"*) echo "text" ;;
        "im2mail forget:0") echo "text" ;;
        "im2mail import telegram-export:0") echo "file" ;;
        "im2mail search:0") echo "text" ;;
        "im2mail unblock:0") echo "text" ;;
        "im2mail webhook delete:0") echo "text" ;;
        "im2mail webhook set:0") echo "text" ;;
    esac
}

_im2mail() {
    local cur=${COMP_WORDS[COMP_CWORD]} command=im2mail word value="" npos=0 i
    [[ $cur == "=" ]] && cur=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == "=" ]]; then
            continue
        elif [[ -n $value ]]; then
            value=""
        elif [[ $word == -* ]]; then
            _im2mail_option_value "$command" "$word" >/dev/null && value=$word
        elif [[ -n $(_im2mail_subcommands "$command") ]]; then
            command="$command $word"
        else
            npos=$((npos + 1))
        fi
    done
    local kind  # what to offer: "words:a b c", "file" or "text" (nothing)
    if [[ -n $value ]]; then
        kind=$(_im2mail_option_value "$command" "$value")
    elif [[ $cur == -* ]]; then
        kind="words:$(_im2mail_options "$command")"
    elif [[ -n $(_im2mail_subcommands "$command") ]]; then
        kind="words:$(_im2mail_subcommands "$command")"
    else
        kind=$(_im2mail_argument "$command" "$npos")
    fi
    case $kind in
        words:*) mapfile -t COMPREPLY < <(compgen -W "${kind#words:}" -- "$cur") ;;
        file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        *) COMPREPLY=() ;;
    esac
}

complete -F _im2mail im2mail
