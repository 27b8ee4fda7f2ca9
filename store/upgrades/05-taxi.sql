-- v05: reserved for the taxi service's tables (filled in by its package).
SELECT 1;
