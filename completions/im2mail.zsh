#compdef im2mail
# zsh completion for im2mail. Generated from im2mail/cli/; do not edit.
# Regenerate after changing the CLI: python -m im2mail.cli.completion
# Install: copy it as _im2mail into a directory on $fpath, or source it after compinit

_im2mail() {
    local curcontext=$curcontext state state_descr line
    typeset -A opt_args
    local -a commands
    commands=(
        'block:Stop emails from a customer.'
        'bot:Add, list and remove the shop'\''s bots.'
        'conversations:List conversations.'
        'customers:One person across channels: link the customers who are one person.'
        'demo:Show the whole round trip on this machine, with nothing configured.'
        'doctor:Check the set-up and say what to fix.'
        'export:Export conversations to mbox or HTML.'
        'forget:Erase a customer from the archive.'
        'import:Bring history from before im2mail into the archive.'
        'init:Set up the mailbox, managers and mail servers.'
        'path:Print where config, archive and files live.'
        'run:Run the relay in the foreground.'
        'search:Search messages, customer names and file names.'
        'stats:Show response times, replies, lead sources and who is waiting.'
        'status:Show the running relay'\''s state.'
        'systemd-unit:Print a systemd unit for im2mail run.'
        'tail:Show recent messages, both directions.'
        'unblock:Email a blocked customer'\''s messages again.'
        'vacuum:Compact the archive.'
        'webhook:Register the bots'\'' webhooks with their platforms.'
        'widget:Write website buttons and QR codes that open the bots, tagged with a lead...'
    )
    _arguments -C \
        '--debug[Show tracebacks (secrets are still masked).]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--version[Print the version.]' \
        '1:command:{_describe -t commands command commands}' \
        '*::argument:->argument'
    [[ $state == argument ]] || return 0
    curcontext=${curcontext%:*:*}:im2mail-$words[1]:
    case $words[1] in
        block) _im2mail_block ;;
        bot) _im2mail_bot ;;
        conversations) _im2mail_conversations ;;
        customers) _im2mail_customers ;;
        demo) _im2mail_demo ;;
        doctor) _im2mail_doctor ;;
        export) _im2mail_export ;;
        forget) _im2mail_forget ;;
        import) _im2mail_import ;;
        init) _im2mail_init ;;
        path) _im2mail_path ;;
        run) _im2mail_run ;;
        search) _im2mail_search ;;
        stats) _im2mail_stats ;;
        status) _im2mail_status ;;
        systemd-unit) _im2mail_systemd_unit ;;
        tail) _im2mail_tail ;;
        unblock) _im2mail_unblock ;;
        vacuum) _im2mail_vacuum ;;
        webhook) _im2mail_webhook ;;
        widget) _im2mail_widget ;;
    esac
}

_im2mail_block() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:conversation: '
}

_im2mail_bot() {
    local curcontext=$curcontext state state_descr line
    typeset -A opt_args
    local -a commands
    commands=(
        'add:Add a bot.'
        'list:List the configured bots.'
        'remove:Remove a bot and forget its token.'
    )
    _arguments -C \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:command:{_describe -t commands command commands}' \
        '*::argument:->argument'
    [[ $state == argument ]] || return 0
    curcontext=${curcontext%:*:*}:im2mail-bot-$words[1]:
    case $words[1] in
        add) _im2mail_bot_add ;;
        list) _im2mail_bot_list ;;
        remove) _im2mail_bot_remove ;;
    esac
}

_im2mail_bot_add() {
    _arguments \
        '--api-url=[The platform'\''s API root (a local Bot API server, a test double).]:api-url: ' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--mode=[Telegram: polling (the default) or webhook.]:mode:(polling webhook)' \
        '--phone-number-id=[WhatsApp: the number'\''s id (WhatsApp → API Setup).]:phone-number-id: ' \
        '--token-stdin[Read the bot token from standard input (Messenger, WhatsApp: the token on the first line, the app secret on the second).]' \
        '1:channel:(telegram viber messenger whatsapp)' \
        '2:name: '
}

_im2mail_bot_list() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line.]'
}

_im2mail_bot_remove() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:name: '
}

_im2mail_conversations() {
    local curcontext=$curcontext state state_descr line
    typeset -A opt_args
    local -a commands
    commands=(
        'rotate-token:Give conversations a new reply address.'
    )
    _arguments -C \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line.]' \
        '--waiting[Only customers waiting for an answer.]' \
        '1:command:{_describe -t commands command commands}' \
        '*::argument:->argument'
    [[ $state == argument ]] || return 0
    curcontext=${curcontext%:*:*}:im2mail-conversations-$words[1]:
    case $words[1] in
        rotate-token) _im2mail_conversations_rotate_token ;;
    esac
}

_im2mail_conversations_rotate_token() {
    _arguments \
        '--all[Every conversation.]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '*:ids: '
}

_im2mail_customers() {
    local curcontext=$curcontext state state_descr line
    typeset -A opt_args
    local -a commands
    commands=(
        'link:Make the customers of two conversations one person.'
        'unlink:Take the customer of conversation ID out of their person.'
    )
    _arguments -C \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:command:{_describe -t commands command commands}' \
        '*::argument:->argument'
    [[ $state == argument ]] || return 0
    curcontext=${curcontext%:*:*}:im2mail-customers-$words[1]:
    case $words[1] in
        link) _im2mail_customers_link ;;
        unlink) _im2mail_customers_unlink ;;
    esac
}

_im2mail_customers_link() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:first: ' \
        '2:second: '
}

_im2mail_customers_unlink() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:conversation: '
}

_im2mail_demo() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--home=[Keep the demo'\''s config and archive here (an empty or new folder, or an earlier demo'\''s). Default: a new temporary folder.]:home:_files' \
        '--speed=[Scale the pauses between steps; 0: no pauses.]:speed: '
}

_im2mail_doctor() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line.]'
}

_im2mail_export() {
    _arguments \
        '--all[Every conversation.]' \
        '--force[Replace what is there.]' \
        '--format=[mbox or html.]:format:(mbox html)' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '(-o --output)-o+[The mbox file, or the folder for HTML pages.]:output:_files' \
        '(-o --output)--output=[The mbox file, or the folder for HTML pages.]:output:_files' \
        '--versions[Edited messages with their earlier texts too.]' \
        '*:ids: '
}

_im2mail_forget() {
    _arguments \
        '--dry-run[Say what would go; change nothing.]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:conversation: '
}

_im2mail_import() {
    local curcontext=$curcontext state state_descr line
    typeset -A opt_args
    local -a commands
    commands=(
        'telegram-export:Load a Telegram Desktop chat export (JSON) into the archive.'
    )
    _arguments -C \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:command:{_describe -t commands command commands}' \
        '*::argument:->argument'
    [[ $state == argument ]] || return 0
    curcontext=${curcontext%:*:*}:im2mail-import-$words[1]:
    case $words[1] in
        telegram-export) _im2mail_import_telegram_export ;;
    esac
}

_im2mail_import_telegram_export() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:file:_files'
}

_im2mail_init() {
    _arguments \
        '--address=[The sales mailbox.]:address: ' \
        '--authserv-id=[Your mail server'\''s Authentication-Results id, vouching for replies ("-": none).]:authserv-id: ' \
        '--greeting=[Sent to new customers.]:greeting: ' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--imap-folder=[Folder to watch.]:imap-folder: ' \
        '--imap-host=[IMAP server.]:imap-host: ' \
        '--imap-password-stdin[Read the IMAP password from stdin (next line; none: same).]' \
        '--imap-port=[IMAP port.]:imap-port: ' \
        '--imap-security=[tls, starttls or none.]:imap-security: ' \
        '--imap-username=[IMAP login.]:imap-username: ' \
        '--listen=[host:port for the HTTP server.]:listen: ' \
        '*--manager=[A manager'\''s address (repeat the flag).]:manager: ' \
        '--no-check[Save without checking the servers (not recommended).]' \
        '--non-interactive[Ask nothing; take values from flags.]' \
        '--processed-folder=[Where handled replies go ("" keeps them).]:processed-folder: ' \
        '--public-url=[HTTPS address that reaches this machine.]:public-url: ' \
        '--smtp-host=[SMTP server.]:smtp-host: ' \
        '--smtp-password-stdin[Read the SMTP password from stdin (1st line).]' \
        '--smtp-port=[SMTP port.]:smtp-port: ' \
        '--smtp-security=[starttls, tls or none.]:smtp-security: ' \
        '--smtp-username=[SMTP login.]:smtp-username: '
}

_im2mail_path() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line.]'
}

_im2mail_run() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--once[Process what is pending, then exit.]'
}

_im2mail_search() {
    _arguments \
        '--channel=[Only this messenger.]:channel:(telegram viber messenger whatsapp)' \
        '--customer=[Only customers whose name, @username or phone has this.]:customer: ' \
        '--exact[Only the words as typed, not their other forms.]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line.]' \
        '--limit=[At most this many hits.]:limit: ' \
        '--since=[From: 2026-11-01, 2026-11-01T14:00, 7d, 12h.]:since: ' \
        '--until=[Up to (same forms).]:until: ' \
        '1:query: '
}

_im2mail_stats() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line, with "kind": manager, channel, source or unanswered; durations in seconds.]' \
        '--since=[From: 2026-11-01, 2026-11-01T14:00, 7d, 30d, today.]:since: ' \
        '--until=[Up to (same forms; default: now).]:until: '
}

_im2mail_status() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[The state as one JSON object.]'
}

_im2mail_systemd_unit() {
    _arguments \
        '--force[With --install: replace a different unit.]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--install[Write it to /etc/systemd/system (needs root) or, with --user, to ~/.config/systemd/user, and say what to do next.]' \
        '--user[A unit for your own systemd (systemctl --user), no root.]'
}

_im2mail_tail() {
    _arguments \
        '(-c --conversation)-c+[Only this conversation.]:conversation: ' \
        '(-c --conversation)--conversation=[Only this conversation.]:conversation: ' \
        '(-f --follow)-f[Keep printing new messages as they come.]' \
        '(-f --follow)--follow[Keep printing new messages as they come.]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line.]' \
        '(-n --lines)-n+[How many to show.]:lines: ' \
        '(-n --lines)--lines=[How many to show.]:lines: ' \
        '--versions[Under an edited message, its earlier texts too.]'
}

_im2mail_unblock() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:conversation: '
}

_im2mail_vacuum() {
    _arguments \
        '--dry-run[Say what would go; change nothing.]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--keep-files-days=[Drop the files of messages older than this (default: \[archive\] keep_files_days in config.toml; 0 keeps every file).]:keep-files-days: ' \
        '--keep-messages-days=[Erase the messages older than this, as im2mail forget does (default: \[archive\] keep_messages_days; 0 keeps every message).]:keep-messages-days: '
}

_im2mail_webhook() {
    local curcontext=$curcontext state state_descr line
    typeset -A opt_args
    local -a commands
    commands=(
        'delete:Unregister the bots'\'' webhooks.'
        'info:Show what each platform has registered for the bots.'
        'set:Register <public_url>/<channel>/<name> with the platform.'
    )
    _arguments -C \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:command:{_describe -t commands command commands}' \
        '*::argument:->argument'
    [[ $state == argument ]] || return 0
    curcontext=${curcontext%:*:*}:im2mail-webhook-$words[1]:
    case $words[1] in
        delete) _im2mail_webhook_delete ;;
        info) _im2mail_webhook_info ;;
        set) _im2mail_webhook_set ;;
    esac
}

_im2mail_webhook_delete() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:name: '
}

_im2mail_webhook_info() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '--json[One JSON object per line.]'
}

_im2mail_webhook_set() {
    _arguments \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '1:name: '
}

_im2mail_widget() {
    _arguments \
        '*--bot=[Only this bot (repeat for more; default: all).]:bot: ' \
        '--force[Replace widget files already in the folder.]' \
        '(-h --help)-h[Show this message and exit.]' \
        '(-h --help)--help[Show this message and exit.]' \
        '(-o --output)-o+[The folder to write into.]:output:_files' \
        '(-o --output)--output=[The folder to write into.]:output:_files' \
        '--print[Print the HTML snippet on stdout as well.]' \
        '--source=[Lead source tag carried by every link: 1-64 of A-Z a-z 0-9 _ -.]:source: '
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _im2mail "$@"
else
    compdef _im2mail im2mail
fi
