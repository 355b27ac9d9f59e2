-- Who is handling an intent: a worker that dies mid-turn leaves its claim behind, and a
-- redelivery may take the claim over once that worker's liveness lock is gone.
ALTER TABLE handled_intents ADD COLUMN claimed_by integer;
