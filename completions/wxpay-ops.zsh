#compdef wxpay-ops

autoload -U is-at-least

_wxpay-ops() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_wxpay-ops_commands" \
"*::: :->wxpay-ops" \
&& ret=0
    case $state in
    (wxpay-ops)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-command-$line[1]:"
        case $line[1] in
            (sign)
_arguments "${_arguments_options[@]}" : \
'()-f+[Read the parameters from a JSON object or an XML message (- for stdin)]:FILE:_files' \
'()--file=[Read the parameters from a JSON object or an XML message (- for stdin)]:FILE:_files' \
'--sign-type=[MD5 or HMAC-SHA256 \[default\: the profile'\''s sign_type, else MD5\]]:SIGN_TYPE:_default' \
'(--key-file)--key-env=[Read the API key from this environment variable instead of the profile]:VAR:_default' \
'--key-file=[Read the API key from this file (mode 0600) instead of the profile]:FILE:_files' \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'--explain[Show the exact string that was hashed (key masked), what was left out and why]' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
'::fields -- Parameters as name=value (e.g. appid=wx… mch_id=… body=…):_default' \
":: :_wxpay-ops__subcmd__sign_commands" \
"*::: :->sign" \
&& ret=0

    case $state in
    (sign)
        words=($line[2] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-sign-command-$line[2]:"
        case $line[2] in
            (verify)
_arguments "${_arguments_options[@]}" : \
'--sign-type=[Verify with this sign type when the message declares none \[default\: by sign length\]]:SIGN_TYPE:_default' \
'(--key-file)--key-env=[Read the API key from this environment variable instead of the profile]:VAR:_default' \
'--key-file=[Read the API key from this file (mode 0600) instead of the profile]:FILE:_files' \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
':file -- The XML message as received (- for stdin):_files' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__sign__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-sign-help-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(paysign)
_arguments "${_arguments_options[@]}" : \
'--prepay-id=[The prepay_id from the unified order answer (without "prepay_id=")]:ID:_default' \
'--appid=[AppID the order was placed with \[default\: the profile'\''s appid\]]:APPID:_default' \
'--mch-id=[Merchant number, for APP'\''s partnerid \[default\: the profile'\''s mch_id\]]:MCH_ID:_default' \
'--timestamp=[Seconds since 1970 \[default\: now\]; fix it for reproducible test fixtures]:TIMESTAMP:_default' \
'--nonce=[Nonce of up to 32 letters and digits \[default\: random\]]:NONCE:_default' \
'--sign-type=[MD5 or HMAC-SHA256; must match the unified order'\''s \[default\: profile, else MD5\]]:SIGN_TYPE:_default' \
'(--key-file)--key-env=[Read the API key from this environment variable instead of the profile]:VAR:_default' \
'--key-file=[Read the API key from this file (mode 0600) instead of the profile]:FILE:_files' \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':scene:((mini\:"wx.requestPayment in a mini program"
jsapi\:"WeixinJSBridge.invoke('\''getBrandWCPayRequest'\'', …) in the WeChat browser"
app\:"PayReq of the APP OpenSDK"))' \
&& ret=0
;;
(notify)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_wxpay-ops__subcmd__notify_commands" \
"*::: :->notify" \
&& ret=0

    case $state in
    (notify)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-notify-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
'--sign-type=[The sign type of your unified order, when the notification declares none \[default\: by sign length\]]:SIGN_TYPE:_default' \
'(--key-file)--key-env=[Read the API key from this environment variable instead of the profile]:VAR:_default' \
'--key-file=[Read the API key from this file (mode 0600) instead of the profile]:FILE:_files' \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
':file -- The notification body as received (- for stdin):_files' \
&& ret=0
;;
(decrypt)
_arguments "${_arguments_options[@]}" : \
'(--key-file)--key-env=[Read the API key from this environment variable instead of the profile]:VAR:_default' \
'--key-file=[Read the API key from this file (mode 0600) instead of the profile]:FILE:_files' \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
':file -- The notification body as received (- for stdin):_files' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__notify__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-notify-help-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(decrypt)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(config)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_wxpay-ops__subcmd__config_commands" \
"*::: :->config" \
&& ret=0

    case $state in
    (config)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-config-command-$line[1]:"
        case $line[1] in
            (init)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'--force[Replace an existing file]' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(path)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(check)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__config__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-config-help-command-$line[1]:"
        case $line[1] in
            (init)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(path)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(check)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
':shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(emulator)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_wxpay-ops__subcmd__emulator_commands" \
"*::: :->emulator" \
&& ret=0

    case $state in
    (emulator)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-emulator-command-$line[1]:"
        case $line[1] in
            (serve)
_arguments "${_arguments_options[@]}" : \
'--listen=[Plain HTTP address for the endpoints that need no client certificate]:LISTEN:_default' \
'--tls-listen=[HTTPS address (all endpoints; /secapi/* and downloadfundflow need the client certificate)]:TLS_LISTEN:_default' \
'--cert-dir=[Folder for the CA and the merchant certificates \[default\: a new temporary folder\]]:DIR:_files' \
'--fee-rate=[Bill fee rate in hundredths of a percent (60 = 0.60%)]:FEE_RATE:_default' \
'--notify-time-factor=[Multiplies the notification retry schedule (15 s, 15 s, 30 s, 3 min …); 0.01 makes it 100 times faster]:NOTIFY_TIME_FACTOR:_default' \
'--refund-delay=[Seconds a refund stays PROCESSING before it succeeds]:REFUND_DELAY:_default' \
'*--synthetic-day=[Add a synthetic day of the first merchant\: DATE\:TRADES\[\:SEED\] (repeatable)]:DATE:TRADES[:SEED]:_default' \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
'--day=[The synthetic day, as given to \`serve --synthetic-day\`]:DATE:TRADES[:SEED]:_default' \
'--mch-id=[Merchant of the day]:MCH_ID:_default' \
'--appid=[AppID of the day'\''s trades]:APPID:_default' \
'-o+[Where to write the CSV (written whole, then moved into place)]:FILE:_files' \
'--output=[Where to write the CSV (written whole, then moved into place)]:FILE:_files' \
'--missing-in-merchant=[Paid orders left out of the export]:MISSING_IN_MERCHANT:_default' \
'--missing-in-wechat=[Paid orders in the export that WeChat never saw]:MISSING_IN_WECHAT:_default' \
'--amount-mismatch=[Orders whose amount differs]:AMOUNT_MISMATCH:_default' \
'--status-mismatch=[Orders whose status differs]:STATUS_MISMATCH:_default' \
'--near-midnight=[Payments of the day'\''s last seconds recorded after midnight (at most 10)]:NEAR_MIDNIGHT:_default' \
'--duplicates=[Orders listed twice]:DUPLICATES:_default' \
'--fee-rate=[Bill fee rate, as given to \`serve --fee-rate\`]:FEE_RATE:_default' \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__emulator__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-emulator-help-command-$line[1]:"
        case $line[1] in
            (serve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(demo)
_arguments "${_arguments_options[@]}" : \
'--config=[Config file \[env\: WXPAY_OPS_CONFIG\] \[default\: \$XDG_CONFIG_HOME/wxpay-ops/config.toml\]]:FILE:_files' \
'-p+[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--profile=[Profile to use \[env\: WXPAY_OPS_PROFILE\] \[default\: the file'\''s default_profile\]]:PROFILE:_default' \
'--format=[Output format \[default\: table on a terminal, otherwise json\]]:FORMAT:(table json csv)' \
'-q[No status or warnings on stderr; data and errors only]' \
'--quiet[No status or warnings on stderr; data and errors only]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-help-command-$line[1]:"
        case $line[1] in
            (sign)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__help__subcmd__sign_commands" \
"*::: :->sign" \
&& ret=0

    case $state in
    (sign)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-help-sign-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(paysign)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(notify)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__help__subcmd__notify_commands" \
"*::: :->notify" \
&& ret=0

    case $state in
    (notify)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-help-notify-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(decrypt)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(config)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__help__subcmd__config_commands" \
"*::: :->config" \
&& ret=0

    case $state in
    (config)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-help-config-command-$line[1]:"
        case $line[1] in
            (init)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(path)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(check)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(emulator)
_arguments "${_arguments_options[@]}" : \
":: :_wxpay-ops__subcmd__help__subcmd__emulator_commands" \
"*::: :->emulator" \
&& ret=0

    case $state in
    (emulator)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:wxpay-ops-help-emulator-command-$line[1]:"
        case $line[1] in
            (serve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(demo)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_wxpay-ops_commands] )) ||
_wxpay-ops_commands() {
    local commands; commands=(
'sign:Sign a parameter set (MD5 or HMAC-SHA256), or verify a signed message' \
'paysign:Client-side pay parameters for wx.requestPayment, WeixinJSBridge or the APP SDK' \
'notify:Verify payment notifications and decrypt refund notifications' \
'config:Create, locate, show and check the config file' \
'completions:Print shell completions' \
'emulator:A local WeChat Pay v2 server for tests and development (--config names its merchants file)' \
'demo:Check the toolkit against published values, then run a payment flow on the built-in emulator' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__completions_commands] )) ||
_wxpay-ops__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops completions commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config_commands] )) ||
_wxpay-ops__subcmd__config_commands() {
    local commands; commands=(
'init:Write a commented template (mode 0600) to the config path' \
'path:Print the config file'\''s path' \
'show:Show the selected profile, secrets masked' \
'check:Validate the selected profile\: key, mch_id and appid shapes, certificate files' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops config commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__check_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config check commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__help_commands() {
    local commands; commands=(
'init:Write a commented template (mode 0600) to the config path' \
'path:Print the config file'\''s path' \
'show:Show the selected profile, secrets masked' \
'check:Validate the selected profile\: key, mch_id and appid shapes, certificate files' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops config help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__help__subcmd__check_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__help__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config help check commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__help__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config help help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__help__subcmd__init_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__help__subcmd__init_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config help init commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__help__subcmd__path_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__help__subcmd__path_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config help path commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__help__subcmd__show_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config help show commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__init_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__init_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config init commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__path_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__path_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config path commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__config__subcmd__show_commands] )) ||
_wxpay-ops__subcmd__config__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops config show commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__demo_commands] )) ||
_wxpay-ops__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops demo commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__emulator_commands] )) ||
_wxpay-ops__subcmd__emulator_commands() {
    local commands; commands=(
'serve:Serve the WeChat Pay v2 API on loopback until Ctrl-C' \
'export:Write the merchant order export (CSV) of a synthetic day, with chosen differences' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops emulator commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__emulator__subcmd__export_commands] )) ||
_wxpay-ops__subcmd__emulator__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops emulator export commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__emulator__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__emulator__subcmd__help_commands() {
    local commands; commands=(
'serve:Serve the WeChat Pay v2 API on loopback until Ctrl-C' \
'export:Write the merchant order export (CSV) of a synthetic day, with chosen differences' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops emulator help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__emulator__subcmd__help__subcmd__export_commands] )) ||
_wxpay-ops__subcmd__emulator__subcmd__help__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops emulator help export commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__emulator__subcmd__help__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__emulator__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops emulator help help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__emulator__subcmd__help__subcmd__serve_commands] )) ||
_wxpay-ops__subcmd__emulator__subcmd__help__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops emulator help serve commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__emulator__subcmd__serve_commands] )) ||
_wxpay-ops__subcmd__emulator__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops emulator serve commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__help_commands() {
    local commands; commands=(
'sign:Sign a parameter set (MD5 or HMAC-SHA256), or verify a signed message' \
'paysign:Client-side pay parameters for wx.requestPayment, WeixinJSBridge or the APP SDK' \
'notify:Verify payment notifications and decrypt refund notifications' \
'config:Create, locate, show and check the config file' \
'completions:Print shell completions' \
'emulator:A local WeChat Pay v2 server for tests and development (--config names its merchants file)' \
'demo:Check the toolkit against published values, then run a payment flow on the built-in emulator' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__completions_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help completions commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__config_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__config_commands() {
    local commands; commands=(
'init:Write a commented template (mode 0600) to the config path' \
'path:Print the config file'\''s path' \
'show:Show the selected profile, secrets masked' \
'check:Validate the selected profile\: key, mch_id and appid shapes, certificate files' \
    )
    _describe -t commands 'wxpay-ops help config commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__config__subcmd__check_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__config__subcmd__check_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help config check commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__config__subcmd__init_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__config__subcmd__init_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help config init commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__config__subcmd__path_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__config__subcmd__path_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help config path commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__config__subcmd__show_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__config__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help config show commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__demo_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help demo commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__emulator_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__emulator_commands() {
    local commands; commands=(
'serve:Serve the WeChat Pay v2 API on loopback until Ctrl-C' \
'export:Write the merchant order export (CSV) of a synthetic day, with chosen differences' \
    )
    _describe -t commands 'wxpay-ops help emulator commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__emulator__subcmd__export_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__emulator__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help emulator export commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__emulator__subcmd__serve_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__emulator__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help emulator serve commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__notify_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__notify_commands() {
    local commands; commands=(
'verify:Verify a payment notification\: its fields, whether its sign holds, and the reply to send' \
'decrypt:Decrypt a refund notification'\''s req_info and show the reply to send' \
    )
    _describe -t commands 'wxpay-ops help notify commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__notify__subcmd__decrypt_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__notify__subcmd__decrypt_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help notify decrypt commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__notify__subcmd__verify_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__notify__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help notify verify commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__paysign_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__paysign_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help paysign commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__sign_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__sign_commands() {
    local commands; commands=(
'verify:Check the sign of a captured message; exit 0 when it holds, 4 when not' \
    )
    _describe -t commands 'wxpay-ops help sign commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__help__subcmd__sign__subcmd__verify_commands] )) ||
_wxpay-ops__subcmd__help__subcmd__sign__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops help sign verify commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__notify_commands] )) ||
_wxpay-ops__subcmd__notify_commands() {
    local commands; commands=(
'verify:Verify a payment notification\: its fields, whether its sign holds, and the reply to send' \
'decrypt:Decrypt a refund notification'\''s req_info and show the reply to send' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops notify commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__notify__subcmd__decrypt_commands] )) ||
_wxpay-ops__subcmd__notify__subcmd__decrypt_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops notify decrypt commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__notify__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__notify__subcmd__help_commands() {
    local commands; commands=(
'verify:Verify a payment notification\: its fields, whether its sign holds, and the reply to send' \
'decrypt:Decrypt a refund notification'\''s req_info and show the reply to send' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops notify help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__notify__subcmd__help__subcmd__decrypt_commands] )) ||
_wxpay-ops__subcmd__notify__subcmd__help__subcmd__decrypt_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops notify help decrypt commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__notify__subcmd__help__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__notify__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops notify help help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__notify__subcmd__help__subcmd__verify_commands] )) ||
_wxpay-ops__subcmd__notify__subcmd__help__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops notify help verify commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__notify__subcmd__verify_commands] )) ||
_wxpay-ops__subcmd__notify__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops notify verify commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__paysign_commands] )) ||
_wxpay-ops__subcmd__paysign_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops paysign commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__sign_commands] )) ||
_wxpay-ops__subcmd__sign_commands() {
    local commands; commands=(
'verify:Check the sign of a captured message; exit 0 when it holds, 4 when not' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops sign commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__sign__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__sign__subcmd__help_commands() {
    local commands; commands=(
'verify:Check the sign of a captured message; exit 0 when it holds, 4 when not' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'wxpay-ops sign help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__sign__subcmd__help__subcmd__help_commands] )) ||
_wxpay-ops__subcmd__sign__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops sign help help commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__sign__subcmd__help__subcmd__verify_commands] )) ||
_wxpay-ops__subcmd__sign__subcmd__help__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops sign help verify commands' commands "$@"
}
(( $+functions[_wxpay-ops__subcmd__sign__subcmd__verify_commands] )) ||
_wxpay-ops__subcmd__sign__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'wxpay-ops sign verify commands' commands "$@"
}

if [ "$funcstack[1]" = "_wxpay-ops" ]; then
    _wxpay-ops "$@"
else
    compdef _wxpay-ops wxpay-ops
fi
