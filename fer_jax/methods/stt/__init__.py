"""STT: spatio-temporal transformer for in-the-wild dynamic FER (docs/methods.md §2)."""
