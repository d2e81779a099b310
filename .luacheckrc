std = "max"
max_line_length = 120
files["lua/"] = { read_globals = { module = { other_fields = true }, prosody = { other_fields = true } } }
files["spec/"] = { std = "+busted", max_line_length = 140 }
exclude_files = { "target/", "build/", "fuzz/" }
