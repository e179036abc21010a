complete --keep-order --exclusive --command wxpay-ops --arguments "(WXPAY_OPS_COMPLETE=fish wxpay-ops -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
