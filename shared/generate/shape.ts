/**
 * What demo data should look like, as data. `challengeShape` holds the figures measured from the public
 * challenge data (../shared/reference/challenge-shape.md), for a 10-day window; the generator derives its
 * parameters from them and the tests compare its output with them. `demoAssumptions` holds what the
 * reference does not say (non-converting traffic, order values, ...): our own choices, kept apart so that
 * nobody mistakes them for measurements.
 */

export const CHANNELS = [
  'Affiliate & Partnerships',
  'Direct Traffic',
  'FB & IG Ads',
  'Lead Generation',
  'Microsoft Ads',
  'Newsletter & Email',
  'Organic Traffic',
  'Paid Search Brand',
  'Paid Search Non Brand',
  'Performance Max',
  'Pinterest Ads',
  'Referral',
  'Social Organic',
  'TikTok Ads',
  'Untracked Conversions',
  'YouTube Ads',
] as const;
export type Channel = (typeof CHANNELS)[number];

export type ChannelShares = Partial<Record<Channel, number>>;

export const challengeShape = {
  startDate: '2023-08-29',
  endDate: '2023-09-07',
  days: 10,
  conversions: 2000,
  noSessionConversions: 60,
  convertingUsers: 1931,
  /** journeys with at least one session, and the sessions they hold (a shared session counted per journey) */
  journeys: 1940,
  journeyRows: 3703,
  /** share of journeys by number of sessions; the last bucket is "7 or more" */
  sessionsPerJourney: { 1: 0.584, 2: 0.212, 3: 0.102, 4: 0.042, 5: 0.024, 6: 0.015, '7+': 0.021 },
  longestJourney: 37,
  /** hours between consecutive sessions of a journey */
  gapHours: { p10: 0.02, p25: 0.06, p50: 1.95, p75: 23.1, p90: 55.5 },
  /** hours from a journey's first session to its last */
  spanHours: { p50: 0, p75: 2.6, p90: 71, p99: 165 },
  /** share of all journey sessions; the 13 channels seen in journeys */
  journeyChannelShare: {
    'Direct Traffic': 0.224,
    'Performance Max': 0.208,
    'Newsletter & Email': 0.201,
    'Paid Search Brand': 0.121,
    'Organic Traffic': 0.075,
    'FB & IG Ads': 0.062,
    'Affiliate & Partnerships': 0.034,
    Referral: 0.03,
    'Untracked Conversions': 0.015,
    'Paid Search Non Brand': 0.014,
    'Social Organic': 0.008,
    'Microsoft Ads': 0.006,
    'TikTok Ads': 0.003,
  } satisfies ChannelShares as ChannelShares,
  /** share of journeys starting on a channel; published for the six largest only */
  firstChannelShare: {
    'Performance Max': 0.232,
    'Direct Traffic': 0.209,
    'Newsletter & Email': 0.173,
    'Paid Search Brand': 0.142,
    'FB & IG Ads': 0.081,
    'Organic Traffic': 0.078,
  } satisfies ChannelShares as ChannelShares,
  /** flag rates over journey sessions */
  holderRate: 0.917,
  closerRate: 0.782,
  impressionRate: 0,
  sharedSessions: 27,
  tieJourneys: 1,
  /** EUR over the 10 days */
  spend: {
    'Performance Max': 130000.69,
    'FB & IG Ads': 98098.62,
    'Paid Search Non Brand': 19309.25,
    'Paid Search Brand': 17301.68,
    'TikTok Ads': 10840.89,
    'Lead Generation': 10105.06,
    'Affiliate & Partnerships': 4133.74,
    'Social Organic': 2356.08,
    'Microsoft Ads': 1679.74,
    'Direct Traffic': 36.2,
    'Organic Traffic': 18.85,
    Referral: 2.64,
  } satisfies ChannelShares as ChannelShares,
  totalSpend: 293883.43,
  /** (channel, date) cells with sessions: 150 of 160 */
  cellsWithSessions: 150,
} as const;

export const demoAssumptions = {
  /**
   * Users who never convert in the window, per converting user. About 20 gives some 60k sessions at scale 1:
   * a session conversion rate near 3%, ordinary for e-commerce, while keeping scale 50 loadable on a laptop.
   */
  nonConvertingUsersPerConverter: 20,
  /** sessions of a non-converting user: 1 + geometric with this mean of extra sessions */
  nonConvertingExtraSessionsMean: 0.45,
  /**
   * Channel mix of sessions outside journeys. Paid social and Performance Max buy a lot of traffic that does
   * not convert; that is what puts three quarters of the spend on them while they hold a quarter of journeys.
   */
  nonJourneyChannelWeights: {
    'Performance Max': 22,
    'FB & IG Ads': 20,
    'Direct Traffic': 12,
    'Organic Traffic': 9,
    'Newsletter & Email': 7,
    'Paid Search Brand': 5,
    'Paid Search Non Brand': 5,
    'TikTok Ads': 5,
    'Affiliate & Partnerships': 3,
    Referral: 2.5,
    'Social Organic': 2.5,
    'Lead Generation': 2.5,
    'Microsoft Ads': 1.5,
    'YouTube Ads': 1.5,
    'Untracked Conversions': 0.5,
    // Pinterest runs on one day only (below), so its weight is per active day
    'Pinterest Ads': 6,
  } satisfies Record<Channel, number> as Record<Channel, number>,
  /** share of the window's days on which a channel has traffic (reference: Pinterest 1 day, YouTube all but 1) */
  activeDayShare: { 'Pinterest Ads': 0.1, 'YouTube Ads': 0.9 } satisfies ChannelShares as ChannelShares,
  nonJourneyHolderRate: 0.55,
  nonJourneyCloserRate: 0.2,
  /** view-through touches exist only outside journeys (reference: always 0 in journeys) */
  nonJourneyImpressionRate: { 'FB & IG Ads': 0.04, 'TikTok Ads': 0.05, 'YouTube Ads': 0.08, 'Pinterest Ads': 0.05 } satisfies ChannelShares as ChannelShares,
  /** closer_engagement of the converting session; earlier journey sessions get what makes the overall rate match */
  convertingSessionCloserRate: 0.9,
  /**
   * Share of a channel's sessions that carry cost (the rest cost 0). Unpaid channels carry a few euros in the
   * reference (mis-tagged clicks), so a handful of their sessions are paid.
   */
  paidSessionShare: {
    'Performance Max': 1,
    'FB & IG Ads': 1,
    'Paid Search Non Brand': 1,
    'Paid Search Brand': 1,
    'TikTok Ads': 1,
    'Lead Generation': 1,
    'Microsoft Ads': 1,
    'Affiliate & Partnerships': 0.5,
    'Social Organic': 0.15,
    'Direct Traffic': 0.002,
    'Organic Traffic': 0.002,
    Referral: 0.002,
  } satisfies ChannelShares as ChannelShares,
  /** spread of cost between paid sessions of one channel and day (lognormal sigma) */
  costSigma: 0.5,
  /** spread of a channel's daily budget around its mean (uniform +-) */
  dailyBudgetJitter: 0.25,
  /** share of unpaid sessions whose cost is missing (cost is nullable; loaders must cope) */
  emptyCostRate: 0.01,
  /** order value in EUR: lognormal; with ~294k spend on ~2,000 orders this gives a ROAS a little above 1 */
  revenueMedian: 140,
  revenueSigma: 0.75,
  revenueMin: 4.9,
  revenueMax: 5000,
  /** minutes from the converting session's start to the order */
  minutesToOrderMedian: 9,
  minutesToOrderSigma: 0.9,
  /** new order times tried for a journey that does not fit between the window start and its order */
  anchorRetries: 3,
  /** chance that two consecutive sessions of a journey start in the same second */
  journeyTieRate: 0.0012,
  /** "7 or more" sessions per journey: P(k) proportional to k^-exponent on 7..max; exponent 3.5 gives the mean 10.3 that the reference's 3,703 rows imply */
  journeyTailExponent: 3.5,
  journeyTailMax: 40,
  /** converting users who also browse after ordering, and how many sessions they add */
  postConversionBrowseRate: 0.12,
  /** of those, the share whose next session starts the same second as the order: it must stay out of the journey */
  postConversionSameSecondRate: 0.02,
  /** 99th and 100th percentile of the gap between sessions (hours); the reference stops at p90 */
  gapHoursP99: 130,
  gapHoursMax: 200,
  /** shortest non-zero gap (hours): one second */
  gapHoursMin: 1 / 3600,
  /** traffic by hour of day (UTC), a European shop: quiet at night, peak in the evening */
  hourWeights: [
    1.2, 0.7, 0.45, 0.35, 0.35, 0.5, 1.0, 2.0, 3.2, 4.0, 4.4, 4.6, 4.8, 4.7, 4.6, 4.6, 4.8, 5.2, 5.8, 6.4, 6.6, 5.8, 4.2, 2.4,
  ],
} as const;
