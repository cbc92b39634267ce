# fish completion for im2mail. Generated from im2mail/cli/; do not edit.
# Regenerate after changing the CLI: python -m im2mail.cli.completion
# Install: copy it to ~/.config/fish/completions/im2mail.fish

complete -c im2mail -e
complete -c im2mail -f  # no file names unless a parameter is a path
set -g __im2mail_commands 'im2mail block' 'im2mail bot' 'im2mail bot add' 'im2mail bot list' 'im2mail bot remove' 'im2mail conversations' 'im2mail conversations rotate-token' 'im2mail customers' 'im2mail customers link' 'im2mail customers unlink' 'im2mail demo' 'im2mail doctor' 'im2mail export' 'im2mail forget' 'im2mail import' 'im2mail import telegram-export' 'im2mail init' 'im2mail path' 'im2mail run' 'im2mail search' 'im2mail stats' 'im2mail status' 'im2mail systemd-unit' 'im2mail tail' 'im2mail unblock' 'im2mail vacuum' 'im2mail webhook' 'im2mail webhook delete' 'im2mail webhook info' 'im2mail webhook set' 'im2mail widget'
set -g __im2mail_valued 'im2mail bot add --api-url' 'im2mail bot add --mode' 'im2mail bot add --phone-number-id' 'im2mail demo --home' 'im2mail demo --speed' 'im2mail export --format' 'im2mail export -o' 'im2mail export --output' 'im2mail init --address' 'im2mail init --authserv-id' 'im2mail init --greeting' 'im2mail init --imap-folder' 'im2mail init --imap-host' 'im2mail init --imap-port' 'im2mail init --imap-security' 'im2mail init --imap-username' 'im2mail init --listen' 'im2mail init --manager' 'im2mail init --processed-folder' 'im2mail init --public-url' 'im2mail init --smtp-host' 'im2mail init --smtp-port' 'im2mail init --smtp-security' 'im2mail init --smtp-username' 'im2mail search --channel' 'im2mail search --customer' 'im2mail search --limit' 'im2mail search --since' 'im2mail search --until' 'im2mail stats --since' 'im2mail stats --until' 'im2mail tail -c' 'im2mail tail --conversation' 'im2mail tail -n' 'im2mail tail --lines' 'im2mail vacuum --keep-files-days' 'im2mail vacuum --keep-messages-days' 'im2mail widget --bot' 'im2mail widget -o' 'im2mail widget --output' 'im2mail widget --source'

# True when the command line up to the cursor is at command $argv[1]; given $argv[2],
# only if no option value is due and that many arguments are typed (N+: N or more).
function __im2mail_at
    set -l words (commandline -opc)
    set -e words[1]
    set -l command im2mail
    set -l npos 0
    set -l value 0
    for word in $words
        if test $value = 1
            set value 0
        else if string match -q -- '-*' $word
            contains -- "$command $word" $__im2mail_valued; and set value 1
        else if contains -- "$command $word" $__im2mail_commands
            set command "$command $word"
        else
            set npos (math $npos + 1)
        end
    end
    test "$command" = "$argv[1]"; or return 1
    set -q argv[2]; or return 0
    test $value = 0; or return 1
    if string match -q -- '*+' $argv[2]
        test $npos -ge (string trim -r -c + -- $argv[2])
    else
        test $npos = $argv[2]
    end
end

complete -c im2mail -n '__im2mail_at "im2mail" 0' -a block -d 'Stop emails from a customer.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a bot -d 'Add, list and remove the shop\'s bots.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a conversations -d 'List conversations.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a customers -d 'One person across channels: link the customers who are one person.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a demo -d 'Show the whole round trip on this machine, with nothing configured.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a doctor -d 'Check the set-up and say what to fix.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a export -d 'Export conversations to mbox or HTML.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a forget -d 'Erase a customer from the archive.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a import -d 'Bring history from before im2mail into the archive.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a init -d 'Set up the mailbox, managers and mail servers.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a path -d 'Print where config, archive and files live.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a run -d 'Run the relay in the foreground.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a search -d 'Search messages, customer names and file names.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a stats -d 'Show response times, replies, lead sources and who is waiting.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a status -d 'Show the running relay\'s state.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a systemd-unit -d 'Print a systemd unit for im2mail run.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a tail -d 'Show recent messages, both directions.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a unblock -d 'Email a blocked customer\'s messages again.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a vacuum -d 'Compact the archive.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a webhook -d 'Register the bots\' webhooks with their platforms.'
complete -c im2mail -n '__im2mail_at "im2mail" 0' -a widget -d 'Write website buttons and QR codes that open the bots, tagged with a lead...'
complete -c im2mail -n '__im2mail_at "im2mail"' -l debug -d 'Show tracebacks (secrets are still masked).'
complete -c im2mail -n '__im2mail_at "im2mail"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail"' -l version -d 'Print the version.'

complete -c im2mail -n '__im2mail_at "im2mail block"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail bot" 0' -a add -d 'Add a bot.'
complete -c im2mail -n '__im2mail_at "im2mail bot" 0' -a list -d 'List the configured bots.'
complete -c im2mail -n '__im2mail_at "im2mail bot" 0' -a remove -d 'Remove a bot and forget its token.'
complete -c im2mail -n '__im2mail_at "im2mail bot"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail bot add"' -l api-url -x -d 'The platform\'s API root (a local Bot API server, a test double).'
complete -c im2mail -n '__im2mail_at "im2mail bot add"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail bot add"' -l mode -x -a 'polling webhook' -d 'Telegram: polling (the default) or webhook.'
complete -c im2mail -n '__im2mail_at "im2mail bot add"' -l phone-number-id -x -d 'WhatsApp: the number\'s id (WhatsApp → API Setup).'
complete -c im2mail -n '__im2mail_at "im2mail bot add"' -l token-stdin -d 'Read the bot token from standard input (Messenger, WhatsApp: the token on the first line, the app secret on the second).'
complete -c im2mail -n '__im2mail_at "im2mail bot add" 0' -a 'telegram viber messenger whatsapp' -d 'telegram, viber, messenger or whatsapp'

complete -c im2mail -n '__im2mail_at "im2mail bot list"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail bot list"' -l json -d 'One JSON object per line.'

complete -c im2mail -n '__im2mail_at "im2mail bot remove"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail conversations" 0' -a rotate-token -d 'Give conversations a new reply address.'
complete -c im2mail -n '__im2mail_at "im2mail conversations"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail conversations"' -l json -d 'One JSON object per line.'
complete -c im2mail -n '__im2mail_at "im2mail conversations"' -l waiting -d 'Only customers waiting for an answer.'

complete -c im2mail -n '__im2mail_at "im2mail conversations rotate-token"' -l all -d 'Every conversation.'
complete -c im2mail -n '__im2mail_at "im2mail conversations rotate-token"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail customers" 0' -a link -d 'Make the customers of two conversations one person.'
complete -c im2mail -n '__im2mail_at "im2mail customers" 0' -a unlink -d 'Take the customer of conversation ID out of their person.'
complete -c im2mail -n '__im2mail_at "im2mail customers"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail customers link"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail customers unlink"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail demo"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail demo"' -l home -r -F -d 'Keep the demo\'s config and archive here (an empty or new folder, or an earlier demo\'s). Default: a new temporary folder.'
complete -c im2mail -n '__im2mail_at "im2mail demo"' -l speed -x -d 'Scale the pauses between steps; 0: no pauses.'

complete -c im2mail -n '__im2mail_at "im2mail doctor"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail doctor"' -l json -d 'One JSON object per line.'

complete -c im2mail -n '__im2mail_at "im2mail export"' -l all -d 'Every conversation.'
complete -c im2mail -n '__im2mail_at "im2mail export"' -l force -d 'Replace what is there.'
complete -c im2mail -n '__im2mail_at "im2mail export"' -l format -x -a 'mbox html' -d 'mbox or html.'
complete -c im2mail -n '__im2mail_at "im2mail export"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail export"' -s o -l output -r -F -d 'The mbox file, or the folder for HTML pages.'
complete -c im2mail -n '__im2mail_at "im2mail export"' -l versions -d 'Edited messages with their earlier texts too.'

complete -c im2mail -n '__im2mail_at "im2mail forget"' -l dry-run -d 'Say what would go; change nothing.'
complete -c im2mail -n '__im2mail_at "im2mail forget"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail import" 0' -a telegram-export -d 'Load a Telegram Desktop chat export (JSON) into the archive.'
complete -c im2mail -n '__im2mail_at "im2mail import"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail import telegram-export"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail import telegram-export" 0' -F -d 'result.json from Telegram Desktop\'s export (or the folder holding it).'

complete -c im2mail -n '__im2mail_at "im2mail init"' -l address -x -d 'The sales mailbox.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l authserv-id -x -d 'Your mail server\'s Authentication-Results id, vouching for replies ("-": none).'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l greeting -x -d 'Sent to new customers.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l imap-folder -x -d 'Folder to watch.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l imap-host -x -d 'IMAP server.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l imap-password-stdin -d 'Read the IMAP password from stdin (next line; none: same).'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l imap-port -x -d 'IMAP port.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l imap-security -x -d 'tls, starttls or none.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l imap-username -x -d 'IMAP login.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l listen -x -d 'host:port for the HTTP server.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l manager -x -d 'A manager\'s address (repeat the flag).'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l no-check -d 'Save without checking the servers (not recommended).'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l non-interactive -d 'Ask nothing; take values from flags.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l processed-folder -x -d 'Where handled replies go ("" keeps them).'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l public-url -x -d 'HTTPS address that reaches this machine.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l smtp-host -x -d 'SMTP server.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l smtp-password-stdin -d 'Read the SMTP password from stdin (1st line).'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l smtp-port -x -d 'SMTP port.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l smtp-security -x -d 'starttls, tls or none.'
complete -c im2mail -n '__im2mail_at "im2mail init"' -l smtp-username -x -d 'SMTP login.'

complete -c im2mail -n '__im2mail_at "im2mail path"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail path"' -l json -d 'One JSON object per line.'

complete -c im2mail -n '__im2mail_at "im2mail run"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail run"' -l once -d 'Process what is pending, then exit.'

complete -c im2mail -n '__im2mail_at "im2mail search"' -l channel -x -a 'telegram viber messenger whatsapp' -d 'Only this messenger.'
complete -c im2mail -n '__im2mail_at "im2mail search"' -l customer -x -d 'Only customers whose name, @username or phone has this.'
complete -c im2mail -n '__im2mail_at "im2mail search"' -l exact -d 'Only the words as typed, not their other forms.'
complete -c im2mail -n '__im2mail_at "im2mail search"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail search"' -l json -d 'One JSON object per line.'
complete -c im2mail -n '__im2mail_at "im2mail search"' -l limit -x -d 'At most this many hits.'
complete -c im2mail -n '__im2mail_at "im2mail search"' -l since -x -d 'From: 2026-11-01, 2026-11-01T14:00, 7d, 12h.'
complete -c im2mail -n '__im2mail_at "im2mail search"' -l until -x -d 'Up to (same forms).'

complete -c im2mail -n '__im2mail_at "im2mail stats"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail stats"' -l json -d 'One JSON object per line, with "kind": manager, channel, source or unanswered; durations in seconds.'
complete -c im2mail -n '__im2mail_at "im2mail stats"' -l since -x -d 'From: 2026-11-01, 2026-11-01T14:00, 7d, 30d, today.'
complete -c im2mail -n '__im2mail_at "im2mail stats"' -l until -x -d 'Up to (same forms; default: now).'

complete -c im2mail -n '__im2mail_at "im2mail status"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail status"' -l json -d 'The state as one JSON object.'

complete -c im2mail -n '__im2mail_at "im2mail systemd-unit"' -l force -d 'With --install: replace a different unit.'
complete -c im2mail -n '__im2mail_at "im2mail systemd-unit"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail systemd-unit"' -l install -d 'Write it to /etc/systemd/system (needs root) or, with --user, to ~/.config/systemd/user, and say what to do next.'
complete -c im2mail -n '__im2mail_at "im2mail systemd-unit"' -l user -d 'A unit for your own systemd (systemctl --user), no root.'

complete -c im2mail -n '__im2mail_at "im2mail tail"' -s c -l conversation -x -d 'Only this conversation.'
complete -c im2mail -n '__im2mail_at "im2mail tail"' -s f -l follow -d 'Keep printing new messages as they come.'
complete -c im2mail -n '__im2mail_at "im2mail tail"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail tail"' -l json -d 'One JSON object per line.'
complete -c im2mail -n '__im2mail_at "im2mail tail"' -s n -l lines -x -d 'How many to show.'
complete -c im2mail -n '__im2mail_at "im2mail tail"' -l versions -d 'Under an edited message, its earlier texts too.'

complete -c im2mail -n '__im2mail_at "im2mail unblock"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail vacuum"' -l dry-run -d 'Say what would go; change nothing.'
complete -c im2mail -n '__im2mail_at "im2mail vacuum"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail vacuum"' -l keep-files-days -x -d 'Drop the files of messages older than this (default: [archive] keep_files_days in config.toml; 0 keeps every file).'
complete -c im2mail -n '__im2mail_at "im2mail vacuum"' -l keep-messages-days -x -d 'Erase the messages older than this, as im2mail forget does (default: [archive] keep_messages_days; 0 keeps every message).'

complete -c im2mail -n '__im2mail_at "im2mail webhook" 0' -a delete -d 'Unregister the bots\' webhooks.'
complete -c im2mail -n '__im2mail_at "im2mail webhook" 0' -a info -d 'Show what each platform has registered for the bots.'
complete -c im2mail -n '__im2mail_at "im2mail webhook" 0' -a set -d 'Register <public_url>/<channel>/<name> with the platform.'
complete -c im2mail -n '__im2mail_at "im2mail webhook"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail webhook delete"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail webhook info"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail webhook info"' -l json -d 'One JSON object per line.'

complete -c im2mail -n '__im2mail_at "im2mail webhook set"' -s h -l help -d 'Show this message and exit.'

complete -c im2mail -n '__im2mail_at "im2mail widget"' -l bot -x -d 'Only this bot (repeat for more; default: all).'
complete -c im2mail -n '__im2mail_at "im2mail widget"' -l force -d 'Replace widget files already in the folder.'
complete -c im2mail -n '__im2mail_at "im2mail widget"' -s h -l help -d 'Show this message and exit.'
complete -c im2mail -n '__im2mail_at "im2mail widget"' -s o -l output -r -F -d 'The folder to write into.'
complete -c im2mail -n '__im2mail_at "im2mail widget"' -l print -d 'Print the HTML snippet on stdout as well.'
complete -c im2mail -n '__im2mail_at "im2mail widget"' -l source -x -d 'Lead source tag carried by every link: 1-64 of A-Z a-z 0-9 _ -.'
