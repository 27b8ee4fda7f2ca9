-- v8 belongs to r-store (issue 10); this no-op only keeps the numbering
-- without gaps on the r-dispatch branch. Drop it when r-store's 08 merges.
SELECT 1;
