-- v05: reserved for the booking service's tables (filled in by its package).
SELECT 1;
