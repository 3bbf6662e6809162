// One order for ids: by UTF-16 code units, the order DynamoDB keeps sort keys in (ids are ASCII)
// and pageOf's (pagination.ts), so a sorted list and its pages agree. Not localeCompare.

export const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
