{
  "targets": [
    {
      "target_name": "bitsmith_native",
      "sources": ["native/gemm.c"],
      "conditions": [
        ["OS != 'win' and target_arch == 'x64'", { "cflags": ["-O3", "-march=native"], "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-march=native"] } }],
        ["OS != 'win' and target_arch != 'x64'", { "cflags": ["-O3"], "xcode_settings": { "OTHER_CFLAGS": ["-O3"] } }]
      ]
    }
  ]
}
