-- edgeopt:step id=objectives_indexes needs=partial_indexes
-- The objectives tree of an exam (domain > task > sub-task), read by a recursive CTE:
-- the roots of the exam, then the children of each node in sort order.
-- up
-- Roots only: parent_id IS NULL is a deterministic predicate.
-- serves: objectives_tree
CREATE INDEX idx_objectives_roots
    ON objectives (exam_id, sort_order)
    WHERE parent_id IS NULL;

-- Children of a node, in display order. It is also the child-key index of the
-- objectives.parent_id ON DELETE CASCADE foreign key.
-- serves: objectives_tree
CREATE INDEX idx_objectives_children
    ON objectives (parent_id, sort_order);
-- down
DROP INDEX idx_objectives_children;
DROP INDEX idx_objectives_roots;
