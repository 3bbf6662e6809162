// Every `reason` the broker's code can put on an error (and so on an audit line and in
// `explain`), derived from the code itself: each `new <BrokerError subclass>(…)` in shared/ and
// functions/ is found with the TypeScript compiler, the argument that becomes the reason is
// resolved to the strings it can be — by its type where that is a set of string literals (a
// union such as KeyFetchCode), else through constants, conditionals, templates, the return
// values of the functions called and the arguments at the call sites of a function parameter —
// and the real error class is then constructed with them, so its own defaults and formatting
// (`${dependency}_unavailable`) count. What cannot be narrowed down stays a `<name>` placeholder.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import * as errors from '../../shared/core/errors.js'

const ROOT = join(import.meta.dirname, '..', '..')
const SCANNED = ['shared', 'functions']

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : []
  })

const placeholder = (expression: ts.Expression): string => {
  const names = expression.getText().match(/[A-Za-z_$][\w$]*/g) ?? ['value']
  // `error.claim` → <claim>; `name.replace(…).toLowerCase()` → <name>
  const name = ts.isPropertyAccessExpression(expression) ? expression.name.text : names[0]
  return `<${name}>`
}

const cartesian = (parts: string[][]): string[] =>
  parts.reduce<string[]>((acc, options) => acc.flatMap((prefix) => options.map((o) => prefix + o)), [''])

export interface ReasonScan {
  /** Every reason, placeholders as `<name>`, sorted. */
  reasons: string[]
  /** Where each came from (file:line), for a failing test's message. */
  sites: Map<string, string[]>
  /** The wire codes each goes with. */
  codes: Map<string, Set<string>>
}

export const scanReasonCodes = (): ReasonScan => {
  const files = SCANNED.flatMap((dir) => sourceFiles(join(ROOT, dir)))
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    // Only our own files: the reasons are made here, and the SDK's declarations are large.
    noResolve: true,
    types: [],
    lib: ['lib.es2023.d.ts'],
  })
  const checker = program.getTypeChecker()
  const ours = program.getSourceFiles().filter((file) => files.includes(file.fileName))

  const literalsOfType = (expression: ts.Expression): string[] | undefined => {
    const type = checker.getTypeAtLocation(expression)
    const members = type.isUnion() ? type.types : [type]
    const strings = members.filter((member) => !(member.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)))
    if (strings.length === 0 || !strings.every((member) => member.isStringLiteral())) return undefined
    return strings.map((member) => (member as ts.StringLiteralType).value)
  }

  const declarationOf = (node: ts.Node): ts.Declaration | undefined => {
    let symbol = checker.getSymbolAtLocation(node)
    if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol)
    return symbol?.valueDeclaration ?? symbol?.declarations?.[0]
  }

  /** The functions an expression in call position can be. */
  const calleesOf = (callee: ts.Expression): ts.SignatureDeclaration[] => {
    const asFunction = (node: ts.Node | undefined): ts.SignatureDeclaration[] => {
      if (!node) return []
      if (ts.isFunctionDeclaration(node) || ts.isArrowFunction(node) || ts.isFunctionExpression(node))
        return [node]
      if (ts.isVariableDeclaration(node)) return asFunction(node.initializer)
      if (ts.isPropertyAssignment(node)) return asFunction(node.initializer)
      if (ts.isObjectLiteralExpression(node)) return node.properties.flatMap((p) => asFunction(p))
      return []
    }
    if (ts.isElementAccessExpression(callee)) {
      // TABLE[key](…): any function of the table.
      const table = declarationOf(callee.expression)
      return table && ts.isVariableDeclaration(table) ? asFunction(table.initializer) : []
    }
    return asFunction(declarationOf(ts.isPropertyAccessExpression(callee) ? callee.name : callee))
  }

  const returnedBy = (fn: ts.SignatureDeclaration): ts.Expression[] => {
    if (ts.isArrowFunction(fn) && !ts.isBlock(fn.body)) return [fn.body]
    const found: ts.Expression[] = []
    const visit = (node: ts.Node) => {
      if (node !== fn && ts.isFunctionLike(node)) return
      if (ts.isReturnStatement(node) && node.expression) found.push(node.expression)
      ts.forEachChild(node, visit)
    }
    const body = (fn as ts.FunctionLikeDeclaration).body
    if (body) visit(body)
    return found
  }

  /** The call sites of the function `fn` (by name), each call's argument list. */
  const callsOf = (fn: ts.SignatureDeclaration): ts.NodeArray<ts.Expression>[] => {
    const holder = ts.isVariableDeclaration(fn.parent) ? fn.parent.name : (fn as ts.FunctionDeclaration).name
    if (!holder) return []
    const target = checker.getSymbolAtLocation(holder)
    const calls: ts.NodeArray<ts.Expression>[] = []
    const visit = (node: ts.Node) => {
      if (ts.isCallExpression(node)) {
        let symbol = checker.getSymbolAtLocation(node.expression)
        if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol)
        if (symbol === target) calls.push(node.arguments)
      }
      ts.forEachChild(node, visit)
    }
    for (const file of ours) visit(file)
    return calls
  }

  const resolve = (expression: ts.Expression, seen = new Set<ts.Node>()): string[] => {
    if (seen.has(expression)) return []
    seen.add(expression)
    const byType = literalsOfType(expression)
    if (byType) return byType
    if (ts.isStringLiteral(expression) || ts.isNoSubstitutionTemplateLiteral(expression))
      return [expression.text]
    if (expression.kind === ts.SyntaxKind.UndefinedKeyword) return []
    if (ts.isIdentifier(expression) && expression.text === 'undefined') return []
    if (
      ts.isParenthesizedExpression(expression) ||
      ts.isAsExpression(expression) ||
      ts.isNonNullExpression(expression)
    )
      return resolve(expression.expression, seen)
    if (ts.isConditionalExpression(expression))
      return [...resolve(expression.whenTrue, seen), ...resolve(expression.whenFalse, seen)]
    if (
      ts.isBinaryExpression(expression) &&
      [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.BarBarToken].includes(expression.operatorToken.kind)
    )
      return [...resolve(expression.left, seen), ...resolve(expression.right, seen)]
    if (ts.isTemplateExpression(expression)) {
      const parts = [[expression.head.text]]
      for (const span of expression.templateSpans) {
        parts.push(spanValues(span.expression, seen), [span.literal.text])
      }
      return cartesian(parts)
    }
    if (ts.isIdentifier(expression)) {
      const declaration = declarationOf(expression)
      if (declaration && ts.isVariableDeclaration(declaration) && declaration.initializer)
        return resolve(declaration.initializer, seen)
      if (declaration && ts.isParameter(declaration)) {
        const fn = declaration.parent
        const index = fn.parameters.indexOf(declaration)
        const values = callsOf(fn).flatMap((args) => {
          const arg = args[index]
          return arg
            ? resolve(arg, seen)
            : declaration.initializer
              ? resolve(declaration.initializer, seen)
              : []
        })
        if (values.length > 0) return values
      }
      return [placeholder(expression)]
    }
    if (ts.isCallExpression(expression)) {
      const callees = calleesOf(expression.expression)
      if (callees.length > 0) return callees.flatMap((fn) => returnedBy(fn).flatMap((r) => resolve(r, seen)))
    }
    return [placeholder(expression)]
  }

  /**
   * A `${…}` of a template: its literal values; a method chain on a value of literal type
   * (`name.replace(/Exception$/, '').toLowerCase()` where a switch narrowed `name`) is run on each.
   */
  const spanValues = (expression: ts.Expression, seen: Set<ts.Node>): string[] => {
    const direct = resolve(expression, seen)
    if (!direct.every((value) => /^<\w+>$/.test(value))) return direct
    let root: ts.Expression = expression
    while (ts.isCallExpression(root) && ts.isPropertyAccessExpression(root.expression))
      root = root.expression.expression
    if (root !== expression && ts.isIdentifier(root)) {
      const values = literalsOfType(root)
      if (values) {
        const run = new Function(root.text, `return ${expression.getText()}`) as (value: string) => unknown
        return values.map((value) => String(run(value)))
      }
    }
    return direct
  }

  // The error classes, and for each the constructor parameters its reason is made of.
  const errorsFile = program.getSourceFile(join(ROOT, 'shared', 'core', 'errors.ts'))
  if (!errorsFile) throw new Error('shared/core/errors.ts is not in the program')
  const classes = new Map<string, { parameters: ts.ParameterDeclaration[]; reasonParams: Set<number> }>()
  ts.forEachChild(errorsFile, (node) => {
    if (!ts.isClassDeclaration(node) || !node.name) return
    // BrokerError's subclasses, and theirs (declared after their parent, as TypeScript requires).
    const parent = node.heritageClauses
      ?.flatMap((clause) => clause.types.map((type) => type.expression.getText()))
      .find((name) => name === 'BrokerError' || classes.has(name))
    if (!parent) return
    const ctor = node.members.find(ts.isConstructorDeclaration)
    const inherited = classes.get(parent)
    if (!ctor && inherited) {
      classes.set(node.name.text, inherited) // no constructor of its own: its parent's reason
      return
    }
    const parameters = [...(ctor?.parameters ?? [])]
    const reasonParams = new Set<number>()
    const visit = (child: ts.Node) => {
      if (ts.isCallExpression(child) && child.expression.kind === ts.SyntaxKind.SuperKeyword) {
        const reason = child.arguments[1]
        const mark = (n: ts.Node) => {
          if (ts.isIdentifier(n)) {
            const index = parameters.findIndex((p) => p.name.getText() === n.text)
            if (index >= 0) reasonParams.add(index)
          }
          ts.forEachChild(n, mark)
        }
        if (reason) mark(reason)
      }
      ts.forEachChild(child, visit)
    }
    if (ctor) visit(ctor)
    classes.set(node.name.text, { parameters, reasonParams })
  })

  const sites = new Map<string, string[]>()
  const codes = new Map<string, Set<string>>()
  const visit = (node: ts.Node) => {
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && classes.has(node.expression.text)) {
      const name = node.expression.text
      const { parameters, reasonParams } = classes.get(name) as {
        parameters: ts.ParameterDeclaration[]
        reasonParams: Set<number>
      }
      const args = node.arguments ?? ts.factory.createNodeArray()
      const options = parameters.map((_, index) => {
        const arg = args[index]
        // Arguments the reason is not made of change nothing about it; an omitted one takes its default.
        if (!arg || !reasonParams.has(index)) return [undefined]
        return resolve(arg)
      })
      const combinations = options.reduce<unknown[][]>(
        (acc, values) => acc.flatMap((prefix) => values.map((v) => [...prefix, v])),
        [[]],
      )
      const ErrorClass = (errors as unknown as Record<string, new (...a: unknown[]) => errors.BrokerError>)[
        name
      ]
      if (!ErrorClass) throw new Error(`${name} is not exported by shared/core/errors.ts`)
      const file = node.getSourceFile()
      const where = `${file.fileName.slice(ROOT.length + 1)}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`
      for (const combination of combinations) {
        const { reason, code } = new ErrorClass(...combination)
        sites.set(reason, [...(sites.get(reason) ?? []), where])
        codes.set(reason, new Set([...(codes.get(reason) ?? []), code]))
      }
    }
    ts.forEachChild(node, visit)
  }
  for (const file of ours) visit(file)
  return { reasons: [...sites.keys()].sort(), sites, codes }
}
