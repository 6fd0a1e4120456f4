-- edgeopt:step id=analyze_growth_stats requires=growth_indexes,engagement_indexes,analyze_stats needs=analyze
-- Statistics for the social-growth tables' new indexes (analyze_stats does the study
-- tables): a database without these tables skips this step alone.
-- Down removes the rows of this pack's growth indexes; sqlite_stat1 itself belongs to
-- analyze_stats, which this step requires.
-- up
ANALYZE growth_metrics;
ANALYZE tweets;
ANALYZE engagement_opportunities;
-- down
DELETE FROM sqlite_stat1
WHERE tbl IN ('growth_metrics', 'tweets', 'engagement_opportunities')
  AND idx IN ('idx_growth_metrics_timeseries', 'idx_tweets_account_posted',
              'idx_engagement_pending', 'idx_engagement_acted');
