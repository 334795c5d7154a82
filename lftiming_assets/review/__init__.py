"""Review: ``review_queue`` (per chip, the wells to proofread first, with a suspicion score and reasons)."""
