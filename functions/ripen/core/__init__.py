"""The pure core: sequences, their validation and the nurture engine. No I/O, no clock reads."""
