"""Personal data protection (个人信息保护, PIPL): per-person envelope encryption of the fields the
schemas mark ``pii``, crypto-shredding, masking by who reads, and the read log. See
docs/personal-data.md."""
