// Types of scripts/monitoring.mjs for the TypeScript that imports it (test/unit).
type Template = { Resources?: Record<string, unknown>; [section: string]: unknown }

export declare const NAMESPACE: string
export declare const functionsOf: (template: Template) => { id: string; name: string }[]
export declare const alarmResources: (template: Template) => Record<string, unknown>
export declare const alarmMetricCount: (resources: Record<string, unknown>) => number
export declare const dashboardResource: (template: Template) => unknown
export declare const withMonitoring: (template: Template, options?: { alarmTopicArn?: string }) => Template
