/**
 * Function tool definitions rendered the way harmony's `template_tools_section` and
 * `json_schema_to_typescript` do (openai/harmony src/encoding.rs): a TypeScript namespace whose
 * argument types come from the JSON schema, with descriptions and defaults as `//` comments.
 */

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  examples?: unknown[];
  oneOf?: JsonSchema[];
  nullable?: boolean;
}

export interface FunctionTool {
  name: string;
  description: string;
  /** JSON schema of the single argument object; absent for a function without arguments. */
  parameters?: JsonSchema;
}

const NESTED_OBJECT_INDENT = '    ';
const ONE_OF_VARIANT_INDENT = '   ';

function isEnum(schema: JsonSchema): boolean {
  return Array.isArray(schema.enum) && schema.enum.length > 0;
}

/** `default: "x"` for free strings, `default: x` for enum strings, JSON for everything else. */
function defaultComment(schema: JsonSchema): string | null {
  if (!('default' in schema)) return null;
  const value = schema.default;
  if (typeof value === 'string') return isEnum(schema) ? `default: ${value}` : `default: "${value}"`;
  return `default: ${JSON.stringify(value)}`;
}

function withNullable(typeText: string, schema: JsonSchema): string {
  return schema.nullable === true && !typeText.includes('null') ? `${typeText} | null` : typeText;
}

function oneOfVariantLine(variant: JsonSchema, indent: string, skipDescription: boolean, propertyDescription?: string): string {
  const typeText = withNullable(schemaToTypeScript(variant, indent + ONE_OF_VARIANT_INDENT), variant);
  const comments: string[] = [];
  if (!skipDescription && variant.description !== undefined && variant.description !== propertyDescription) {
    comments.push(variant.description);
  }
  const variantDefault = defaultComment(variant);
  if (variantDefault !== null) comments.push(variantDefault);
  return comments.length > 0 ? `${typeText} // ${comments.join(' ')}` : typeText;
}

function topLevelOneOf(variants: JsonSchema[], indent: string): string {
  return variants.map((variant) => `\n${indent} | ${oneOfVariantLine(variant, indent, false)}`).join('');
}

function propertyComments(property: JsonSchema, indent: string): string {
  let text = '';
  if (property.title !== undefined) text += `${indent}// ${property.title}\n${indent}//\n`;
  if (property.oneOf === undefined && property.description !== undefined) text += `${indent}// ${property.description}\n`;
  const examples = (property.examples ?? []).filter((example): example is string => typeof example === 'string');
  if (property.examples !== undefined && property.examples.length > 0) {
    text += `${indent}// Examples:\n` + examples.map((example) => `${indent}// - "${example}"\n`).join('');
  }
  return text;
}

function oneOfProperty(key: string, optionalMark: string, property: JsonSchema, variants: JsonSchema[], indent: string): string {
  const propertyDescription = property.description;
  const firstVariantRepeatsDescription = propertyDescription !== undefined && variants[0]?.description === propertyDescription;
  const descriptionAbove = propertyDescription !== undefined && !firstVariantRepeatsDescription;
  let text = descriptionAbove ? `${indent}// ${propertyDescription}\n` : '';
  const propertyDefault = defaultComment(property);
  if (propertyDefault !== null) text += `${indent}// ${propertyDefault}\n`;
  text += `${indent}${key}${optionalMark}:\n`;
  variants.forEach((variant, index) => {
    const skipDescription = index === 0 && descriptionAbove;
    text += `${indent} | ${oneOfVariantLine(variant, indent, skipDescription, propertyDescription)}\n`;
  });
  return text + `${indent},\n`;
}

function plainProperty(key: string, optionalMark: string, property: JsonSchema, indent: string): string {
  const typeText = withNullable(schemaToTypeScript(property, indent + NESTED_OBJECT_INDENT), property);
  const propertyDefault = defaultComment(property);
  const trailing = propertyDefault !== null ? ` // ${propertyDefault}` : '';
  return `${indent}${key}${optionalMark}: ${typeText},${trailing}\n`;
}

function objectType(schema: JsonSchema, indent: string): string {
  let text = schema.description !== undefined ? `${indent}// ${schema.description}\n` : '';
  text += '{\n';
  const required = new Set(schema.required ?? []);
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const optionalMark = required.has(key) ? '' : '?';
    text += propertyComments(property, indent);
    text += property.oneOf !== undefined
      ? oneOfProperty(key, optionalMark, property, property.oneOf, indent)
      : plainProperty(key, optionalMark, property, indent);
  }
  return text + `${indent}}`;
}

function stringType(schema: JsonSchema): string {
  const literals = (schema.enum ?? []).filter((value): value is string => typeof value === 'string');
  return literals.length > 0 ? literals.map((value) => `"${value}"`).join(' | ') : 'string';
}

/** TypeScript type text for a JSON schema, as harmony writes it. */
export function schemaToTypeScript(schema: JsonSchema, indent = ''): string {
  if (schema.oneOf !== undefined) return topLevelOneOf(schema.oneOf, indent);
  if (Array.isArray(schema.type)) {
    const unionMembers = schema.type.map((typeName) => (typeName === 'integer' ? 'number' : typeName));
    if (unionMembers.length > 0) return unionMembers.join(' | ');
  }
  switch (schema.type) {
    case 'object':
      return objectType(schema, indent);
    case 'string':
      return stringType(schema);
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return schema.items !== undefined ? `${schemaToTypeScript(schema.items, indent)}[]` : 'Array<any>';
    default:
      return 'any';
  }
}

function functionDefinition(tool: FunctionTool): string[] {
  const descriptionLines = tool.description.split(/\r?\n/).filter((_, i, all) => !(i === all.length - 1 && all[i] === ''));
  const signature = tool.parameters !== undefined
    ? `type ${tool.name} = (_: ${schemaToTypeScript(tool.parameters)}) => any;\n`
    : `type ${tool.name} = () => any;\n`;
  return [...descriptionLines.map((line) => `// ${line}`), signature];
}

/** The `# Tools` section declaring function tools in the `functions` namespace. */
export function functionToolsSection(tools: readonly FunctionTool[]): string {
  const namespaceLines = [
    '## functions\n',
    'namespace functions {\n',
    ...tools.flatMap(functionDefinition),
    '} // namespace functions',
  ];
  return ['# Tools', namespaceLines.join('\n')].join('\n\n');
}
