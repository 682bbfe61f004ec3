"""STT: spatio-temporal transformer for in-the-wild dynamic FER (methods.md §2)."""
