"""Generated from proto/ by scripts/gen-protos. Do not edit."""
