// Types of scripts/cost-model.mjs for the TypeScript that imports it (test/unit).
type Counts = { alarmMetrics: number; healthChecks: number; optionalFeatures: number }

export declare const PRICES: Readonly<Record<string, number> & { kmsRsa2048Per10k: number }>
export declare const ASSUMPTIONS: Readonly<Record<string, number>>
export declare const HIT_RATES: number[]
export declare const HOURS_PER_MONTH: number
export declare const TEMPLATE_COUNTS: Readonly<Counts>
export declare const costPerMillion: (
  hitRate: number,
  options?: { kmsPer10k?: number },
) => { components: Record<string, number>; total: number }
export declare const vaultPerMonth: () => number
export declare const brokerFixedPerMonth: (counts: Partial<Counts> & { alarmMetrics: number }) => number
export declare const renderPerMillion: () => string
export declare const renderMonthly: (counts: Counts) => string
