// Types of scripts/retained-resources.mjs for the TypeScript that imports it (test/unit).
export declare const TABLE_NAME: RegExp
export declare const useExistingTable: <T>(template: T, tableName: string, tableId?: string) => T
export declare const useExistingLogGroups: <T>(template: T) => T
