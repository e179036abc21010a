# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_wxpay_ops_global_optspecs
    string join \n config= p/profile= format= q/quiet h/help V/version
end

function __fish_wxpay_ops_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_wxpay_ops_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_wxpay_ops_using_subcommand
    set -l cmd (__fish_wxpay_ops_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -s V -l version -d 'Print version'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "sign" -d 'Sign a parameter set (MD5 or HMAC-SHA256), or verify a signed message'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "paysign" -d 'Client-side pay parameters for wx.requestPayment, WeixinJSBridge or the APP SDK'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "notify" -d 'Verify payment notifications and decrypt refund notifications'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "config" -d 'Create, locate, show and check the config file'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "emulator" -d 'A local WeChat Pay v2 server for tests and development (--config names its merchants file)'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "demo" -d 'Check the toolkit against published values, then run a payment flow on the built-in emulator'
complete -c wxpay-ops -n "__fish_wxpay_ops_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -s f -l file -d 'Read the parameters from a JSON object or an XML message (- for stdin)' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -l sign-type -d 'MD5 or HMAC-SHA256 [default: the profile\'s sign_type, else MD5]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -l key-env -d 'Read the API key from this environment variable instead of the profile' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -l key-file -d 'Read the API key from this file (mode 0600) instead of the profile' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -l explain -d 'Show the exact string that was hashed (key masked), what was left out and why'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -a "verify" -d 'Check the sign of a captured message; exit 0 when it holds, 4 when not'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and not __fish_seen_subcommand_from verify help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -l sign-type -d 'Verify with this sign type when the message declares none [default: by sign length]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -l key-env -d 'Read the API key from this environment variable instead of the profile' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -l key-file -d 'Read the API key from this file (mode 0600) instead of the profile' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the sign of a captured message; exit 0 when it holds, 4 when not'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand sign; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l prepay-id -d 'The prepay_id from the unified order answer (without "prepay_id=")' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l appid -d 'AppID the order was placed with [default: the profile\'s appid]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l mch-id -d 'Merchant number, for APP\'s partnerid [default: the profile\'s mch_id]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l timestamp -d 'Seconds since 1970 [default: now]; fix it for reproducible test fixtures' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l nonce -d 'Nonce of up to 32 letters and digits [default: random]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l sign-type -d 'MD5 or HMAC-SHA256; must match the unified order\'s [default: profile, else MD5]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l key-env -d 'Read the API key from this environment variable instead of the profile' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l key-file -d 'Read the API key from this file (mode 0600) instead of the profile' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand paysign" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -f -a "verify" -d 'Verify a payment notification: its fields, whether its sign holds, and the reply to send'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -f -a "decrypt" -d 'Decrypt a refund notification\'s req_info and show the reply to send'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and not __fish_seen_subcommand_from verify decrypt help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -l sign-type -d 'The sign type of your unified order, when the notification declares none [default: by sign length]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -l key-env -d 'Read the API key from this environment variable instead of the profile' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -l key-file -d 'Read the API key from this file (mode 0600) instead of the profile' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from decrypt" -l key-env -d 'Read the API key from this environment variable instead of the profile' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from decrypt" -l key-file -d 'Read the API key from this file (mode 0600) instead of the profile' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from decrypt" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from decrypt" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from decrypt" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from decrypt" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from decrypt" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Verify a payment notification: its fields, whether its sign holds, and the reply to send'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "decrypt" -d 'Decrypt a refund notification\'s req_info and show the reply to send'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand notify; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -f -a "init" -d 'Write a commented template (mode 0600) to the config path'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -f -a "path" -d 'Print the config file\'s path'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -f -a "show" -d 'Show the selected profile, secrets masked'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -f -a "check" -d 'Validate the selected profile: key, mch_id and appid shapes, certificate files'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and not __fish_seen_subcommand_from init path show check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from init" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from init" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from init" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from init" -l force -d 'Replace an existing file'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from init" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from path" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from path" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from path" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from path" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from path" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from show" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from show" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from show" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from check" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from check" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from check" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "init" -d 'Write a commented template (mode 0600) to the config path'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "path" -d 'Print the config file\'s path'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show the selected profile, secrets masked'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate the selected profile: key, mch_id and appid shapes, certificate files'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand completions" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand completions" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand completions" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand completions" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand completions" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -f -a "serve" -d 'Serve the WeChat Pay v2 API on loopback until Ctrl-C'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -f -a "export" -d 'Write the merchant order export (CSV) of a synthetic day, with chosen differences'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and not __fish_seen_subcommand_from serve export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l listen -d 'Plain HTTP address for the endpoints that need no client certificate' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l tls-listen -d 'HTTPS address (all endpoints; /secapi/* and downloadfundflow need the client certificate)' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l cert-dir -d 'Folder for the CA and the merchant certificates [default: a new temporary folder]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l fee-rate -d 'Bill fee rate in hundredths of a percent (60 = 0.60%)' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l notify-time-factor -d 'Multiplies the notification retry schedule (15 s, 15 s, 30 s, 3 min …); 0.01 makes it 100 times faster' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l refund-delay -d 'Seconds a refund stays PROCESSING before it succeeds' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l synthetic-day -d 'Add a synthetic day of the first merchant: DATE:TRADES[:SEED] (repeatable)' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l day -d 'The synthetic day, as given to `serve --synthetic-day`' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l mch-id -d 'Merchant of the day' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l appid -d 'AppID of the day\'s trades' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -s o -l output -d 'Where to write the CSV (written whole, then moved into place)' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l missing-in-merchant -d 'Paid orders left out of the export' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l missing-in-wechat -d 'Paid orders in the export that WeChat never saw' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l amount-mismatch -d 'Orders whose amount differs' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l status-mismatch -d 'Orders whose status differs' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l near-midnight -d 'Payments of the day\'s last seconds recorded after midnight (at most 10)' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l duplicates -d 'Orders listed twice' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l fee-rate -d 'Bill fee rate, as given to `serve --fee-rate`' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Serve the WeChat Pay v2 API on loopback until Ctrl-C'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write the merchant order export (CSV) of a synthetic day, with chosen differences'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand emulator; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand demo" -l config -d 'Config file [env: WXPAY_OPS_CONFIG] [default: $XDG_CONFIG_HOME/wxpay-ops/config.toml]' -r -F
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand demo" -s p -l profile -d 'Profile to use [env: WXPAY_OPS_PROFILE] [default: the file\'s default_profile]' -r
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand demo" -l format -d 'Output format [default: table on a terminal, otherwise json]' -r -f -a "table\t''
json\t''
csv\t''"
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand demo" -s q -l quiet -d 'No status or warnings on stderr; data and errors only'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand demo" -s h -l help -d 'Print help'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "sign" -d 'Sign a parameter set (MD5 or HMAC-SHA256), or verify a signed message'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "paysign" -d 'Client-side pay parameters for wx.requestPayment, WeixinJSBridge or the APP SDK'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "notify" -d 'Verify payment notifications and decrypt refund notifications'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "config" -d 'Create, locate, show and check the config file'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "completions" -d 'Print shell completions'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "emulator" -d 'A local WeChat Pay v2 server for tests and development (--config names its merchants file)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "demo" -d 'Check the toolkit against published values, then run a payment flow on the built-in emulator'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and not __fish_seen_subcommand_from sign paysign notify config completions emulator demo help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from sign" -f -a "verify" -d 'Check the sign of a captured message; exit 0 when it holds, 4 when not'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from notify" -f -a "verify" -d 'Verify a payment notification: its fields, whether its sign holds, and the reply to send'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from notify" -f -a "decrypt" -d 'Decrypt a refund notification\'s req_info and show the reply to send'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "init" -d 'Write a commented template (mode 0600) to the config path'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "path" -d 'Print the config file\'s path'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Show the selected profile, secrets masked'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate the selected profile: key, mch_id and appid shapes, certificate files'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from emulator" -f -a "serve" -d 'Serve the WeChat Pay v2 API on loopback until Ctrl-C'
complete -c wxpay-ops -n "__fish_wxpay_ops_using_subcommand help; and __fish_seen_subcommand_from emulator" -f -a "export" -d 'Write the merchant order export (CSV) of a synthetic day, with chosen differences'
