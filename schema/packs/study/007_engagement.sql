-- edgeopt:step id=engagement_indexes needs=partial_indexes
-- The engagement queue: the pending opportunities of an account, most relevant first, and
-- the daily count of what was acted on.
-- up
-- Pending rows only: once acted on, a row leaves the index. The key order matches
-- ORDER BY relevance_score DESC, created_at so a page is read in order with no sort.
-- serves: engagement_queue
CREATE INDEX idx_engagement_pending
    ON engagement_opportunities (account_id, relevance_score DESC, created_at)
    WHERE status = 'pending';

-- Acted-on rows by day (approved, replied, skipped), status appended so the daily
-- counts are index-only.
-- serves: engagement_daily_actions
CREATE INDEX idx_engagement_acted
    ON engagement_opportunities (account_id, acted_at, status)
    WHERE acted_at IS NOT NULL;
-- down
DROP INDEX idx_engagement_acted;
DROP INDEX idx_engagement_pending;
