-- v04: reserved for the ordering service's tables (filled in by its package).
SELECT 1;
