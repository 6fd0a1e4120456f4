-- edgeopt:step id=growth_indexes
-- The growth dashboard: the daily metrics of one account and its recent tweets.
-- up
-- UNIQUE (account_id, date) already finds the rows. This index carries the metric
-- columns too, so the time series with its window functions never reads the table.
-- One row per account per day, so the extra index costs next to nothing to maintain.
-- serves: growth_timeseries
CREATE INDEX idx_growth_metrics_timeseries
    ON growth_metrics (account_id, date, followers, new_followers, impressions, engagements, ai_costs);

-- The tweets of an account, newest first. It is also the child-key index of the
-- twitter_accounts ON DELETE CASCADE foreign key.
-- serves: account_tweets_recent
CREATE INDEX idx_tweets_account_posted
    ON tweets (account_id, posted_at);
-- down
DROP INDEX idx_tweets_account_posted;
DROP INDEX idx_growth_metrics_timeseries;
